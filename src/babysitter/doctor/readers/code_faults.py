"""Faults of a user's own training code, from what torch's hooks saw (:class:`Evidence`), as
findings whose advice is the code change.

===================  ===========================================================================  ========
finding              evidence and threshold                                                       severity
===================  ===========================================================================  ========
grad_not_zeroed      one step after a read step, a tensor hook on the smallest stepped weight sums  warning
                     the fresh gradients g_new of every backward; at the next step the gradient
                     g is compared with g_new and with g_prev + g_new (g_prev: the gradient of the
                     read step): residual r(a, b) = ||a - (a.b / b.b) b|| / ||a|| (a scale allowed:
                     clipping). Accumulated when r(g, g_prev + g_new) < 1e-3 and r(g, g_new) >
                     1e-2; warning when >= 2 checks and >= half accumulated. Accumulation on purpose
                     (zero_grad and step every k backwards) gives g = g_new: never flagged.
softmax_before_loss  the input of a cross entropy has rows that are probabilities (>= 0, sum 1 to      warning
                     1e-3) or log-probabilities (<= 0, logsumexp 0 to 1e-3); of an NLL loss, rows
                     that are probabilities, or raw scores (logsumexp > 0.1 from 0)
eval_mode_training   Dropout / BatchNorm modules (BN with trainable parameters) in eval mode when  warning
                     the optimizer steps, at >= half of the read steps
parameters_not_      parameters of the model that require grad and have a gradient at the step     warning
updated              but are in no param group (at >= half of the read steps); or none of the
                     stepped parameters changed over the run although they had gradients.
                     requires_grad False (a frozen backbone) is never flagged.
no_gradient_flow     at every read step, none of the model's parameters had a non-zero gradient   warning
                     when the optimizer stepped (the loss's graph does not reach them: .item(),
                     .detach(), torch.tensor(loss), numpy in between)
labels_look_random   an elementwise loss (MSE, L1, smooth L1, Huber) whose input and target differ  warning
                     in shape and broadcast to more elements than either (``(B, 1)`` against
                     ``(B,)``: ``(B, B)``): every prediction is scored against every target of its
                     batch, so no example's own label reaches it
missing_activation   a Linear/Conv layer whose input is a linear function (a view, dropout,        warning
                     batch norm, ...) of another Linear/Conv layer's output, with no
                     non-linearity between them (seen in forward on read steps)
===================  ===========================================================================  ========
"""

from __future__ import annotations

import math

import torch
from torch import nn

from babysitter.doctor.findings import Finding
from babysitter.doctor.tensor_hooks import unhook

CLASS_LOSSES = ("cross_entropy", "nll_loss")   # the losses whose input holds C class scores
ELEMENTWISE = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")   # losses that broadcast input and target

RESIDUAL_SAME, RESIDUAL_DIFFERENT = 1e-3, 1e-2
FRESH_PARAMS = 1
EVAL_MODULES = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)


def residual(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||a - (a.b / b.b) b|| / ||a||``: how far ``a`` is from a multiple of ``b`` (0: parallel)."""
    a, b = a.double().flatten(), b.double().flatten()
    na, bb = torch.linalg.vector_norm(a), torch.dot(b, b)
    if na == 0 or bb == 0:
        return float("nan")
    return float(torch.linalg.vector_norm(a - torch.dot(a, b) / bb * b) / na)


class Evidence:
    """What the hooks saw of the code, with no verdict: :func:`findings` reads it."""

    def __init__(self):
        self.backwards = 0
        self.backward_without_graph = 0
        self.eval_passes = 0
        self.loss_not_on_output = False
        self.flow: list[tuple[int, int, int]] = []          # (step, model params with a gradient, stepped params)
        self.outside: list[tuple[int, list[str]]] = []     # (step, names: grad, requires_grad, in no group)
        self.eval_mode: list[tuple[int, list[str]]] = []   # (step, Dropout/BN modules in eval mode)
        self.accumulated: list[tuple[int, float, float]] = []   # (step, r(g, g_new), r(g, g_prev + g_new))
        self.loss_inputs: list[tuple[str, str]] = []       # (loss name, "probabilities" | "log_probabilities" | "scores")
        self.no_activation: set[tuple[str, str]] = set()
        self.broadcast: tuple | None = None                # (loss name, input shape, target shape, broadcast shape)
        self.orphans: list[str] = []                       # models with gradients in no optimizer that stepped
        self._fresh: dict[int, list] = {}                  # id(param) -> [param, g_prev, g_new sum, handle]
        self._start: list[tuple[str, torch.Tensor, torch.Tensor]] = []
        self._had_grad = False

    # --------------------------------------------------------------- recording
    def start(self, model: nn.Module, optimizer) -> None:
        stepped = {id(p) for g in optimizer.param_groups for p in g["params"]}
        named = [(n, p) for n, p in model.named_parameters() if id(p) in stepped and p.requires_grad]
        named.sort(key=lambda np_: -np_[1].numel())
        self._start = [(n, p, p.detach().clone()) for n, p in named[:8]]

    def pre_step(self, index: int, model: nn.Module, optimizer, read: bool) -> None:
        if self._fresh:
            self._compare_fresh(index)
        if not read:
            return
        stepped = [p for g in optimizer.param_groups for p in g["params"]]
        ids = {id(p) for p in stepped}
        named = [(n, p) for n, p in model.named_parameters() if p.grad is not None]   # one walk of the modules
        nonzero = int(sum(bool(torch.count_nonzero(p.grad)) for _, p in named))
        self._had_grad = self._had_grad or any(p.grad is not None for p in stepped)
        self.flow.append((index, nonzero, len(stepped)))
        out = [n for n, p in named if p.requires_grad and id(p) not in ids and bool(torch.count_nonzero(p.grad))]
        self.outside.append((index, out))
        evals = [n or type(m).__name__ for n, m in model.named_modules() if isinstance(m, EVAL_MODULES) and not m.training
                 and (not isinstance(m, nn.modules.batchnorm._BatchNorm)
                      or any(p.requires_grad for p in m.parameters()))]
        self.eval_mode.append((index, evals))

    def closure_step(self, index: int, optimizer, read: bool, before: bool) -> None:
        """A closure optimizer (L-BFGS) runs its backwards inside ``step``: the fresh gradients are
        summed from its pre-step (``before``) to its post-step, then compared as at a next step."""
        if before and read and not self._fresh:
            params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
            params.sort(key=lambda p: (p.ndim < 2, p.numel()))
            for p in params[:FRESH_PARAMS]:
                prev = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                entry = [p, prev, None, None, None]

                def hook(grad, entry=entry):
                    entry[2] = grad.detach().clone() if entry[2] is None else entry[2] + grad.detach()
                    entry[4] = grad.detach().clone()   # the last evaluation's own gradient
                entry[3] = p.register_hook(hook)
                self._fresh[id(p)] = entry
        elif not before and self._fresh:
            # zero_grad in the closure leaves the last evaluation's gradient; without it, the sum of all
            # evaluations (and the previous step's): r(g, last) vs r(g, g_prev + sum)
            for p, prev, total, _, last in self._fresh.values():
                if total is not None and last is not None and p.grad is not None:
                    g = p.grad.detach()
                    self.accumulated.append((index, residual(g, last), residual(g, prev + total)))
                    break
            self.stop_fresh()

    def after_step(self, index: int, model: nn.Module, optimizer, read: bool) -> None:
        if not read or self._fresh:
            return
        params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad and p.grad is not None]
        params.sort(key=lambda p: (p.ndim < 2, p.numel()))   # the smallest weight matrices: cheap, and never all-zero
        for p in params[:FRESH_PARAMS]:
            entry = [p, p.grad.detach().clone(), None, None]

            def hook(grad, entry=entry):
                entry[2] = grad.detach().clone() if entry[2] is None else entry[2] + grad.detach()
                # returns None: the gradient itself is not changed
            entry[3] = p.register_hook(hook)
            self._fresh[id(p)] = entry

    def _compare_fresh(self, index: int) -> None:
        for p, prev, new, _ in self._fresh.values():
            if new is None or p.grad is None:
                continue
            g = p.grad.detach()
            self.accumulated.append((index, residual(g, new), residual(g, prev + new)))
            break
        self.stop_fresh()

    def stop_fresh(self) -> None:
        for entry in self._fresh.values():
            unhook(entry[3], entry[0])
        self._fresh = {}

    def loss_shapes(self, name: str, input: torch.Tensor, target: torch.Tensor) -> None:
        """An elementwise loss whose input and target broadcast to more elements than either (the first seen)."""
        if self.broadcast is not None or name not in ELEMENTWISE or input.shape == target.shape:
            return
        try:
            shape = torch.broadcast_shapes(input.shape, target.shape)
        except RuntimeError:
            return
        if math.prod(shape) > max(input.numel(), target.numel()):
            self.broadcast = (name, tuple(input.shape), tuple(target.shape), tuple(shape))

    def loss_input(self, name: str, x: torch.Tensor, softmax_no_dim: bool = False) -> None:
        """Classify the rows of a classification loss's input ``x: (N, C)`` (first 5 seen); a binary
        cross entropy with logits: its entries. ``softmax_no_dim``: ``x`` is the output of an
        ``F.softmax`` called without ``dim`` on a 1-D/3-D tensor (torch then normalises dim 0)."""
        if len(self.loss_inputs) >= 5 or x.ndim != 2 or not x.is_floating_point():
            return
        x = x.float()
        unit = bool(((x >= 0) & (x <= 1)).all())   # every entry in [0, 1]: no logit layer gives that
        if softmax_no_dim:
            self.loss_inputs.append((name, "softmax_no_dim"))
            return
        if name == "binary_cross_entropy_with_logits":
            self.loss_inputs.append((name, "probabilities" if unit and x.numel() >= 16 else "scores"))
            return
        lse = torch.logsumexp(x, 1)
        if bool((x >= 0).all()) and float((x.sum(1) - 1).abs().max()) < 1e-3:
            kind = "probabilities"
        elif unit and x.numel() >= 16:   # >= 0 and <= 1 yet rows not summing to 1: normalised over another axis
            kind = "unit_interval"
        elif bool((x <= 0).all()) and float(lse.abs().max()) < 1e-3:
            kind = "log_probabilities"
        elif float(lse.abs().max()) > 0.1:
            kind = "scores"
        else:
            kind = "unclear"
        self.loss_inputs.append((name, kind))

    def no_activation_between(self, first: str, second: str) -> None:
        self.no_activation.add((first, second))

    def unchanged(self) -> tuple[int, int] | None:
        """(unchanged, checked) over the largest stepped parameters, or None before any step."""
        if not self._start:
            return None
        same = sum(bool(torch.equal(p.detach(), p0)) for _, p, p0 in self._start)
        return same, len(self._start)


# ------------------------------------------------------------------------------------- findings
def findings(ev: Evidence, steps: int) -> list[Finding]:
    """The code faults of :data:`__doc__`'s table from ``ev`` after ``steps`` optimizer steps."""
    out: list[Finding] = []
    out += _grad_not_zeroed(ev)
    out += _softmax(ev)
    out += _eval_mode(ev)
    flow = _no_flow(ev)
    if flow and any(f.id == "softmax_before_loss" for f in out):   # its cause: a constant softmax has no gradient
        flow[0].adjust(-0.3, "the loss's input is a softmax's output", severity="info", cause="softmax_before_loss")
    out += flow
    if not flow:
        out += _not_updated(ev, steps)
    out += _missing_activation(ev)
    out += _broadcast(ev)
    return out


def _broadcast(ev: Evidence) -> list[Finding]:
    if ev.broadcast is None:
        return []
    name, a, b, shape = ev.broadcast
    return [Finding("labels_look_random", "warning",
                    f"{name} got an input of shape {list(a)} and a target of shape {list(b)}: torch broadcast them to "
                    f"{list(shape)}, so every prediction is scored against every target of its batch, not its own",
                    "", score=0.9, facts={"broadcast": True, "input_shape": list(a), "target_shape": list(b)})]


def _grad_not_zeroed(ev: Evidence) -> list[Finding]:
    acc = [(s, r0, r1) for s, r0, r1 in ev.accumulated if r1 == r1 and r0 == r0]
    hits = [(s, r0, r1) for s, r0, r1 in acc if r1 < RESIDUAL_SAME and r0 > RESIDUAL_DIFFERENT]
    if len(acc) < 2 or len(hits) * 2 < len(acc):
        return []
    s, r0, r1 = hits[0]
    return [Finding("grad_not_zeroed", "warning",
                    f"at {len(hits)} of {len(acc)} checked steps the gradient the optimizer stepped on was the previous "
                    f"step's gradient plus the new one (step {s}: residual vs g_prev + g_new {r1:.1e}, vs g_new alone {r0:.2g})",
                    "", score=0.6 + 0.4 * len(hits) / len(acc))]


def _softmax(ev: Evidence) -> list[Finding]:
    bad = [(n, k) for n, k in ev.loss_inputs
           if (n == "cross_entropy" and k in ("probabilities", "log_probabilities", "unit_interval", "softmax_no_dim"))
           or (n == "nll_loss" and k in ("probabilities", "scores", "unit_interval", "softmax_no_dim"))
           or (n == "binary_cross_entropy_with_logits" and k == "probabilities")]
    if not bad or len(bad) * 2 < len(ev.loss_inputs):
        return []
    name, kind = bad[0]
    what = {"probabilities": "probabilities (rows >= 0 summing to 1)",
            "log_probabilities": "log-probabilities (rows <= 0, logsumexp 0): log_softmax applied twice",
            "scores": "raw scores (logsumexp of a row far from 0), not log-probabilities",
            "unit_interval": "all in [0, 1] with rows not summing to 1: normalised over another axis (a softmax "
                             "over the wrong dim) or squashed by a sigmoid",
            "softmax_no_dim": "the output of F.softmax called without dim on a 1-D/3-D tensor: torch normalised "
                              "dim 0 (the batch, or a size-1 axis: every output exactly 1)"}[kind]
    if name == "binary_cross_entropy_with_logits":
        what = "probabilities (every entry in [0, 1]): a sigmoid before a loss that applies its own"
    return [Finding("softmax_before_loss", "warning",
                    f"{len(bad)} of {len(ev.loss_inputs)} {name} inputs seen were {what}", "",
                    score=1.0 if kind in ("softmax_no_dim", "unit_interval") else 0.9,
                    facts={"loss": name, "input": kind, "seen": len(bad), "of": len(ev.loss_inputs)})]


def _eval_mode(ev: Evidence) -> list[Finding]:
    hit = [(s, m) for s, m in ev.eval_mode if m]
    if not ev.eval_mode or len(hit) * 2 < len(ev.eval_mode):
        return []
    mods = hit[-1][1]
    return [Finding("eval_mode_training", "warning",
                    f"at {len(hit)} of {len(ev.eval_mode)} checked steps the optimizer stepped while {len(mods)} "
                    f"Dropout/BatchNorm module(s) were in eval mode ({', '.join(mods[:4])})",
                    "", layer=mods[0], score=0.8)]


def _no_flow(ev: Evidence) -> list[Finding]:
    if not ev.flow or any(nonzero for _, nonzero, _ in ev.flow):
        return []
    extra = (f"; backward() ran {ev.backward_without_graph} time(s) on a tensor with no graph"
             if ev.backward_without_graph else "")
    return [Finding("no_gradient_flow", "warning",
                    f"at all {len(ev.flow)} checked steps none of the model's parameters had a non-zero gradient when "
                    f"the optimizer stepped ({ev.flow[0][2]} parameter tensors stepped){extra}",
                    "", score=0.9)]


def _not_updated(ev: Evidence, steps: int) -> list[Finding]:
    hit = [(s, n) for s, n in ev.outside if n]
    if ev.outside and len(hit) * 2 >= len(ev.outside) and hit:
        names = hit[-1][1]
        return [Finding("parameters_not_updated", "warning",
                        f"{len(names)} parameter tensor(s) require grad and receive gradients but are in no optimizer "
                        f"param group ({', '.join(names[:4])}{' ...' if len(names) > 4 else ''}), at {len(hit)} of "
                        f"{len(ev.outside)} checked steps",
                        "", layer=names[0].rsplit(".", 1)[0], score=0.85, facts={"outside": list(names)})]
    if ev.orphans:
        return [Finding("parameters_not_updated", "warning",
                        f"the model(s) {', '.join(ev.orphans)} got gradients in training but none of their parameters is "
                        "in an optimizer that stepped", "", layer=ev.orphans[0], score=0.85,
                        facts={"models": list(ev.orphans)})]
    same = ev.unchanged()
    if same and steps >= 5 and ev._had_grad and same[0] == same[1]:
        return [Finding("parameters_not_updated", "warning",
                        f"after {steps} steps none of the {same[1]} largest stepped parameters changed, although they "
                        "had gradients", "", score=0.8, facts={"unchanged": same[1]})]
    return []


def _missing_activation(ev: Evidence) -> list[Finding]:
    if not ev.no_activation:
        return []
    pairs = sorted(ev.no_activation)
    listed = ", ".join(f"{a} -> {b}" for a, b in pairs[:4])
    return [Finding("missing_activation", "warning",
                    f"{len(pairs)} pair(s) of Linear/Conv layers with no non-linearity between them ({listed}): "
                    "together they are one linear map",
                    "", layer=pairs[0][1], score=0.7, facts={"pairs": [list(p) for p in pairs]})]


def nothing_to_step(model: torch.nn.Module, optimizer) -> list[Finding]:
    """parameters_not_updated before the first step, for a host that builds the optimizer itself (the
    Hugging Face Trainer): the optimizer holds none of ``model``'s parameters (a frozen model gives
    the Trainer's optimizer empty param groups; its backward then fails: no tensor requires grad)."""
    params = list(model.parameters())
    stepped = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if not params or any(id(p) in stepped for p in params):
        return []
    trainable = sum(p.requires_grad for p in params)
    why = (f"all {len(params)} parameter tensors of the model are frozen (requires_grad=False)" if not trainable else
           f"{trainable} of its {len(params)} parameter tensors require grad")
    return [Finding("parameters_not_updated", "error",
                    f"the optimizer holds none of the model's {len(params)} parameter tensors "
                    f"({sum(len(g['params']) for g in optimizer.param_groups)} in its param groups); {why}",
                    "", score=1.0, facts={"model_parameters": len(params), "trainable": trainable,
                                      "optimizer_parameters": len(stepped)})]
