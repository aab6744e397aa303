"""A :class:`Kit`: what every kind of run has, on which the probes experiment: a model to copy, an
optimizer to rebuild from its class and param_groups, a loss function and a few batches.

Three ways of making a kit: a watched script (:mod:`babysitter.doctor.watch`) and a Lightning run
(:mod:`babysitter.integrations.lightning`) build theirs from torch's hooks (:meth:`Kit.from_run`);
a spec builds a :class:`~babysitter.doctor.probes.spec_kit.SpecKit`, whose copies train with the
Trainer's own step (penalty, clipping, closure optimizers). Every probe works on deep copies
(:meth:`Kit.fresh`) and restores torch's RNG (:func:`kept_rng`), so the run cannot tell it was probed.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

# A fresh copy: (model, optimizer, step); step(x, y) -> (loss before the update, logits: (N, C))
Step = Callable[[torch.Tensor, torch.Tensor], tuple[float, torch.Tensor]]

@dataclass
class Kit:
    """``model``: a copy at init (never trained by a probe: each probe copies it again);
    ``optimizer_class`` + ``groups``: the optimizer's hyperparameters per param group, each with
    ``params`` as indices into ``list(model.parameters())``; ``loss_fn(output, y) -> 0-dim``;
    ``batches``: ``[(x, y)]`` in the order the run saw them; ``loss_name``: e.g. "cross_entropy";
    ``num_classes``: C for a classification loss, else None.

    What the lr range test reads: ``batch_size`` (None: the first batch's), ``seed`` (its batch
    order), ``seeds`` (how many fresh copies it sweeps), ``onecycle`` (the lr is a one-cycle peak),
    ``augment(x, gen) -> x`` (applied to each swept mini-batch), ``closure`` (the optimizer takes
    closure steps: no sweep; overfit_tiny's logits come after the update)."""

    model: nn.Module
    optimizer_class: type
    groups: list[dict]
    loss_fn: Callable
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    loss_name: str = "unknown"
    num_classes: int | None = None
    notes: list[str] = field(default_factory=list)
    labels_lr: float | None = None      # the lr of labels_look_random's copies (None: the run's)
    batch_size: int | None = None
    seed: int = 0
    seeds: int = 1
    onecycle: bool = False
    augment: Callable | None = None
    closure: bool = False
    # a watched script's call and outputs (doctor/watch/outputs.py): forward(model, x, y) -> the loss's
    # input; targets(y) -> the loss's target; ignore_index: target rows no prediction is scored on
    forward: Callable | None = None
    targets: Callable | None = None
    ignore_index: int | None = None
    clip_norm: float | None = None      # the run clips the total gradient norm to this before its step
    inputs: Callable | None = None      # x of the batches -> the model's inputs (a watch's Rows: x holds row ids)
    summed: bool = False                # loss_fn sums over its rows (reduction='sum'): init loss per row
    floor: float = 0.0                  # the lowest loss any output reaches (label smoothing: above 0)

    LR_KEY = "the optimizer's lr"       # how evidence names the lr

    @classmethod
    def from_run(cls, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn, batches, loss_name="unknown",
                 num_classes=None, copied: nn.Module | None = None) -> "Kit":
        """Copy ``model`` (call it before the first step, or pass ``copied``, a copy made then) and
        read ``optimizer``'s param_groups: parameters outside ``model`` are dropped (a copy of them
        could never be trained)."""
        index = {id(p): i for i, p in enumerate(model.parameters())}
        groups = []
        for g in optimizer.param_groups:
            ids = [index[id(p)] for p in g["params"] if id(p) in index]
            if ids:
                groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        return cls(copied if copied is not None else copy.deepcopy(model), type(optimizer), groups, loss_fn,
                   [(x.detach().clone(), y.detach().clone()) for x, y in batches], loss_name, num_classes,
                   closure=isinstance(optimizer, torch.optim.LBFGS))   # steps only with a closure

    def out(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The model's output as the loss takes it (``(N, C)`` scores for a classification)."""
        return self.forward(model, x, y) if self.forward is not None else model(x)

    def flat(self, y: torch.Tensor) -> torch.Tensor:
        return self.targets(y) if self.targets is not None else y

    def correct(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy of ``logits: (N, C)`` against ``y`` (one row per example of x; a sequence's
        targets are flattened as the loss flattened them): positions at ``ignore_index`` (padding)
        are not scored."""
        y = self.flat(y)
        hit = logits.argmax(1) == y
        if self.ignore_index is not None:
            keep = y != self.ignore_index
            return float(hit[keep].float().mean()) if bool(keep.any()) else float("nan")
        return float(hit.float().mean())

    @property
    def per_example(self) -> bool:
        """One label per example (not a sequence of targets)."""
        return all(y.ndim <= 1 for _, y in self.batches[:1])

    @property
    def classification(self) -> bool:
        return self.num_classes is not None and self.num_classes >= 2

    @property
    def lr(self) -> float | None:
        return float(self.groups[0]["lr"]) if self.groups and "lr" in self.groups[0] else None

    @property
    def optimizer_name(self) -> str:
        return self.optimizer_class.__name__

    def fresh(self, lr: float | None = None, seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer, Step]:
        """A new copy of the model at init, a new optimizer of the run's class on it, and the plain
        step (zero_grad, forward, loss, backward, step). ``seed``: which of the ``seeds`` copies (a
        run's kit has one init to copy)."""
        model = copy.deepcopy(self.model)
        params = list(model.parameters())
        groups = [{**g, "params": [params[i] for i in g["params"]]} for g in self.groups]
        if not groups:  # the run's optimizer holds none of the model's parameters: train them all
            groups = [{"params": [p for p in params if p.requires_grad]}]
        if lr is not None:
            for g in groups:
                g["lr"] = lr
        for g in groups:
            g.pop("initial_lr", None)   # an lr scheduler's key; a new optimizer rejects nothing, but it is stale
        opt = self.optimizer_class(groups, **({"lr": groups[0]["lr"]} if "lr" in groups[0] else {}))

        def step(x, y):
            seen = {}

            def closure():
                opt.zero_grad(set_to_none=True)
                out = self.out(model, x, y)
                loss = self.loss_fn(out, y)
                loss.backward()
                seen.setdefault("loss", loss.detach())
                seen["out"] = out.detach()   # a closure optimizer's last evaluation: after its update
                return loss
            if self.closure:
                opt.step(closure)
            else:
                closure()
                if self.clip_norm is not None:   # as the run steps: an lr that trains clipped may diverge unclipped
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.clip_norm)
                opt.step()
            return float(seen["loss"]), seen["out"]
        return model, opt, step

    def xy(self, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``k`` batches (all when None) concatenated: ``x: (N, ...)``, ``y: (N, ...)``."""
        b = self.batches[:k] if k else self.batches
        if len(b) == 1:
            return b[0]
        return torch.cat([x for x, _ in b]), torch.cat([y for _, y in b])


@contextmanager
def kept_rng():
    """Torch's CPU RNG (and the current CUDA device's, once CUDA is in use) as it was, afterwards."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        yield


def on_device(model: nn.Module, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """``tensors`` moved to the device of ``model``'s parameters (the CPU for a model without any)."""
    device = next(model.parameters(), torch.empty(0)).device
    return [t.to(device) for t in tensors]


def accuracy(model, x, y, kit: "Kit | None" = None) -> float:
    """The fraction of ``x: (N, ...)`` that ``model`` (eval mode, no_grad; train mode after) classifies
    as ``y``; with a ``kit``, through its forward and its scoring (:meth:`Kit.correct`)."""
    with torch.no_grad():
        model.eval()
        acc = kit.correct(kit.out(model, x, y), y) if kit is not None else float((model(x).argmax(1) == y).float().mean())
        model.train()
    return acc

