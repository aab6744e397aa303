"""Training loops with no optimizer object: ``p.data.add_(p.grad, alpha=-lr)``, ``p -= lr * p.grad``
under ``no_grad``. Torch's optimizer hooks never fire, so without this the doctor would see no step.

How a hand-written update is found and followed (no line of the script changes):

1. at the first ``backward()`` seen while no optimizer has stepped, the smallest weight with a
   gradient of the largest root module is the *sentinel*: its value and gradient are copied;
2. at the next forward of a root (or at the end), no optimizer has stepped and the sentinel has
   changed: the script updates the parameters itself. Its lr is estimated from that update,
   ``lr = -(dp . g) / (g . g)`` (g: the gradient of the backward; with clipping, the effective lr);
3. from then on an ``SGD`` over the model's trainable parameters at that lr stands for the script's
   update (:attr:`HandUpdates.optimizer`, never stepped): the end of every backward pass (a
   post-accumulate-grad hook that queues an autograd engine callback) is the step's *pre* (the
   gradients, before any clipping), the model's next forward its *post* (the update done).
   Every instrument, code-fault check and probe then reads the run as any other.
"""

from __future__ import annotations

import torch
from torch import nn

from babysitter.doctor.tensor_hooks import unhook


def graph_leaves(loss: torch.Tensor, limit: int = 100_000) -> list[torch.Tensor]:
    """The leaf tensors that ``loss``'s autograd graph accumulates gradients into (its AccumulateGrad
    nodes' variables), in the order found."""
    out, seen, stack = [], set(), [loss.grad_fn] if loss.grad_fn is not None else []
    while stack and len(seen) < limit:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        var = getattr(node, "variable", None)
        if isinstance(var, torch.Tensor):
            out.append(var)
        stack.extend(n for n, _ in node.next_functions)
    return out


class RawParameters(nn.Module):
    """Stands for the model of a loop over raw tensors (``w = torch.randn(..., requires_grad=True)``,
    no nn.Module): its parameters are those tensors themselves (never copied, never called)."""

    def __init__(self, tensors: list[torch.Tensor]):
        super().__init__()
        self.__dict__["raw"] = list(tensors)

    def parameters(self, recurse: bool = True):
        yield from self.raw

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        for i, t in enumerate(self.raw):
            yield f"{prefix}tensor{i}", t


class HandUpdates:
    """Finds and follows the updates of a loop with no optimizer (see the module docstring) for a
    :class:`~babysitter.doctor.watch.Watch` ``w``: calls ``w._discover``, ``w._pre_step``, ``w._post_step``."""

    def __init__(self, w):
        self.w = w
        self.root: nn.Module | None = None
        self.sentinel: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None   # (param, value, grad)
        self.optimizer: torch.optim.Optimizer | None = None
        self.lr: float | None = None
        self.backwards = 0
        self._pending = False
        self._queued = False
        self._probe = None
        self._handles: list = []

    # ------------------------------------------------------------------ finding one
    def saw_backward(self, loss: torch.Tensor | None = None) -> None:
        """A ``backward()`` returned (the Spy saw it) while no optimizer has stepped."""
        self.backwards += 1
        if self.optimizer is not None:
            return
        if self.sentinel is not None:   # raw tensors: no module forward comes between, the next backward does
            self.check()
            return
        roots = [r for r in self.w._roots.values() if any(p.grad is not None for p in r.parameters())]
        if not roots and isinstance(loss, torch.Tensor):   # no nn.Module: the graph's leaves are the parameters
            leaves = [t for t in graph_leaves(loss) if t.grad is not None]
            roots = [RawParameters(leaves)] if leaves else []
        if not roots:
            return
        self.root = max(roots, key=lambda r: sum(p.numel() for p in r.parameters() if p.grad is not None))
        params = [p for p in self.root.parameters() if p.grad is not None and p.ndim >= 2] or \
                 [p for p in self.root.parameters() if p.grad is not None]
        p = min(params, key=lambda q: q.numel())
        self.sentinel = (p, p.detach().clone(), p.grad.detach().clone())

    def changed(self) -> bool:
        if self.sentinel is None:
            return False
        p, p0, _ = self.sentinel
        return not torch.equal(p.detach(), p0)

    def check(self) -> bool:
        """At a root's forward (and at the end): start following when the parameters moved with no
        optimizer step. True when following."""
        if self.optimizer is not None:
            return True
        if self.w.optimizer is not None or not self.changed():
            return False
        p, p0, g = self.sentinel
        dp = (p.detach() - p0).double().flatten()
        g = g.double().flatten()
        gg = float(torch.dot(g, g))
        self.lr = max(-float(torch.dot(dp, g)) / gg, 0.0) if gg > 0 else 0.0
        params = [q for q in self.root.parameters() if q.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=self.lr if self.lr > 0 else 1e-3)
        self.w._given_model = self.w._given_model or self.root
        self.w._discover(self.optimizer)
        for q in params:
            self._handles.append((q.register_post_accumulate_grad_hook(self._accumulated), q))
        return True

    # ------------------------------------------------------------------ following it
    def _accumulated(self, _param) -> None:
        if not self._queued:
            self._queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self._backward_done)

    def _backward_done(self) -> None:
        """Every gradient of this backward is accumulated: the step's pre (before clipping). Raw
        tensors (no module forward to close the step): the previous step's post comes first."""
        self._queued = False
        if self._pending:
            if not isinstance(self.root, RawParameters):   # two backwards with no forward between: one step
                return
            self.before_forward()
        self._pending = True
        if self.w._read(self.w.step):   # the sentinel's gradient (before any clipping) and the total norm
            from babysitter.doctor.watch.clipping import total_norm

            p = self.sentinel[0]
            if p.grad is not None:
                self._probe = (p.detach().clone(), p.grad.detach().clone(), total_norm(self.optimizer.param_groups[0]["params"]))
        self.w._pre_step(self.optimizer, (), {})

    def before_forward(self) -> None:
        """The model's next forward: the script's update is done."""
        if self._pending:
            self._pending = False
            if self._probe is not None:   # the effective lr of this update: clipping shows as a varying one
                p0, g, norm = self._probe
                g = g.double().flatten()
                gg = float(torch.dot(g, g))
                if gg > 0:
                    lr = -float(torch.dot((self.sentinel[0].detach() - p0).double().flatten(), g)) / gg
                    self.w.clipping.hand.append((lr, norm))
                self._probe = None
            self.w._post_step(self.optimizer, (), {})

    def close(self) -> None:
        if self.optimizer is None:
            self.check()
        self.before_forward()
        for h, q in self._handles:
            unhook(h, q)
        self._handles = []
