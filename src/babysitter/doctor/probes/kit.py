"""The preflight experiments, once, on what every kind of run has: a :class:`Kit` is a model to
copy, an optimizer to rebuild from its class and param_groups, a loss function and a few batches.

Three ways of making a kit: a watched script (:mod:`babysitter.doctor.watch`) and a Lightning run
(:mod:`babysitter.integrations.lightning`) build theirs from torch's hooks (:meth:`Kit.from_run`);
a spec builds a :class:`babysitter.doctor.probes.SpecKit`, whose copies train with the Trainer's own
step (penalty, clipping, closure optimizers) (the remedies, doctor/remedies.py, name spec keys). Every probe works on
deep copies and restores torch's RNG, so the run itself cannot tell it was probed.

=================  ===================================================================================
probe              measures (on copies of the model at init and the kit's batches)
=================  ===================================================================================
input_scale        mean, std over all entries of the batches' inputs -> ``data_not_normalized``
                   (:func:`normalization_findings`: std > 5 or < 0.2, |mean| > 2 std)
init_loss          the loss at init on the batches (train mode, no_grad) vs ln C -> ``init_loss_off``
                   (:func:`init_loss_findings`)
init_gradients     per-layer gradient norms of one backward at init (the first batch) ->
                   vanishing/exploding_gradients (:func:`init_gradient_findings`), ``dead_relu``
overfit_tiny       20 examples, full batch, the kit's step at its lr, <= 300 steps -> train_acc
lr_range           the range test (1e-6 .. 10 over 100 steps) over ``kit.seeds`` copies
                   (:mod:`babysitter.doctor.lr_range`) -> lr band, lr_too_high / lr_too_low
labels_look_random train a copy on the first batches, score it on later ones: accuracy vs chance
                   (:mod:`babysitter.doctor.labels`)
unshuffled_data    distinct labels per batch vs what shuffled batches hold: ``C (1 - (1 - 1/C)^B)``
                   (:mod:`babysitter.doctor.labels`)
=================  ===================================================================================
Class-based probes (init_loss vs ln C, overfit_tiny, labels, shuffling) run only for a cross-entropy
or NLL loss with integer targets; a regression (MSE, ...) gets the others, and no class finding.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from babysitter.doctor import thresholds as T
from babysitter.doctor.findings import Finding, json_safe
from babysitter.doctor.instruments import weighted_layers

from babysitter.doctor.thresholds import SEQUENCE_MEMORISED, TINY_EXAMPLES, TINY_STEPS  # noqa: E402,F401

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
    # a watched script's call and outputs (doctor/outputs.py): forward(model, x, y) -> the loss's
    # input; targets(y) -> the loss's target; ignore_index: target rows no prediction is scored on
    forward: Callable | None = None
    targets: Callable | None = None
    ignore_index: int | None = None
    clip_norm: float | None = None      # the run clips the total gradient norm to this before its step

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


def _on(model: nn.Module, *tensors: torch.Tensor) -> list[torch.Tensor]:
    device = next(model.parameters(), torch.empty(0)).device
    return [t.to(device) for t in tensors]


def _accuracy(model, x, y, kit: "Kit | None" = None) -> float:
    with torch.no_grad():
        model.eval()
        acc = kit.correct(kit.out(model, x, y), y) if kit is not None else float((model(x).argmax(1) == y).float().mean())
        model.train()
    return acc


# ---------------------------------------------------------------- input scale
def normalization_findings(mean: float, std: float) -> list[Finding]:
    """``data_not_normalized`` from the inputs' mean and std over all entries: warning when
    std > 5 or std < 0.2 (the scale is off) or |mean| > 2 std (an offset); info when
    0.5 std < |mean| <= 2 std (e.g. [0, 1] pixels)."""
    scale_off = std > T.INPUT_STD_HIGH or std < T.INPUT_STD_LOW
    offset = abs(mean) / max(std, 1e-12)
    if not scale_off and offset <= T.INPUT_OFFSET_INFO:
        return []
    severity = "warning" if scale_off or offset > T.INPUT_OFFSET_WARN else "info"
    score = max(min(1.0, abs(math.log10(max(std, 1e-12))) / 2), min(1.0, offset / 4))
    return [Finding("data_not_normalized", severity,
                    f"train inputs: mean {mean:.4g}, std {std:.4g} over all entries "
                    f"(|mean|/std = {offset:.2f}; expected mean ~0, std ~1)", facts={"mean": mean, "std": std},
                    score=score)]


def probe_input_scale(kit: Kit) -> tuple[dict, list[Finding]]:
    from babysitter.doctor.inputs import input_kind, scale_applies

    x, _ = kit.xy()
    kind = input_kind(kit.model, x)
    if not scale_applies(kind):   # indices into an embedding, one-hot rows: not features to standardise
        return {"input_scale": {"kind": kind, "skipped": f"the inputs are {kind.replace('_', ' ')}, not features"}}, []
    x = x.float()
    mean, std = float(x.mean()), float(x.std())
    found = normalization_findings(mean, std)
    return {"input_scale": {"mean": mean, "std": std, "min": float(x.min()), "max": float(x.max())}}, found


# ---------------------------------------------------------------- init loss
def init_loss_findings(loss: float, score_std: float, num_classes: int) -> list[Finding]:
    """The init loss against ln C. With m = 0.5 + 0.1 ln C
    (C = 10: m = 0.73), ``init_loss_off``: warning when loss - ln C > 3m (C = 10: scores of std
    >~2.5, e.g. N(0, 1) weights); info when loss - ln C > m (scores of std >~1.2: He init without a
    small last layer gives ~1-1.5) or ln C - loss > m (better than chance untrained: pretrained, or
    a leak). ``loss_not_finite``: error when the loss is NaN/Inf at init."""
    expected = math.log(num_classes)
    if not math.isfinite(loss):
        return [Finding("loss_not_finite", "error", f"initial loss is {loss} (scores std {score_std})",
                        facts={"at_init": True, "non_finite": True}, score=1.0)]
    margin = T.init_loss_margin(num_classes)
    gap = loss - expected
    where = f"initial loss {loss:.4f} vs ln C = ln {num_classes} = {expected:.4f} (scores std {score_std:.3g})"
    if gap > margin:
        severity = "warning" if gap > 3 * margin else "info"
        return [Finding("init_loss_off", severity, where + f"; {gap:.3f} above (margins {margin:.3f}, "
                        f"{3 * margin:.3f})", facts={"at_init": True, "gap": gap, "margin": margin},
                        score=min(1.0, gap / (6 * margin)))]
    if -gap > margin:
        return [Finding("init_loss_off", "info", where + f"; {-gap:.3f} below chance (margin {margin:.3f})",
                        facts={"at_init": True, "gap": gap, "below_chance": True}, score=0.3)]
    return []


def probe_init_loss(kit: Kit) -> tuple[dict, list[Finding]]:
    """Loss at chance: with small weights, softmax gives 1/C to every class, loss = ln C. In TRAIN
    mode under no_grad: the loss the first training step sees (train-mode batch norm normalises
    with the batch statistics; eval mode would use the untouched running stats (0, 1))."""
    x, y = kit.xy()
    model = copy.deepcopy(kit.model).train()
    with torch.no_grad():
        out = kit.out(model, x, y)
        loss, score_std = float(kit.loss_fn(out, y)), float(out.float().std())
    numbers = {"init_loss": json_safe(loss), "expected_init_loss": math.log(kit.num_classes) if kit.classification else None,
               "init_score_std": json_safe(score_std)}
    if not kit.classification:
        return numbers, []
    return numbers, init_loss_findings(loss, score_std, kit.num_classes)


# ---------------------------------------------------------------- gradients at init
from babysitter.doctor.thresholds import EXPLODING_AT_INIT, VANISHED_TOTAL, VANISHING_AT_INIT  # noqa: E402


def init_gradient_findings(norms: dict[str, float], names: list[str]) -> tuple[dict, list[Finding]]:
    """(numbers, findings) from per-layer gradient norms at init, ``names`` in forward order:
    exploding when the total is non-finite or > EXPLODING_AT_INIT, vanishing when first/last
    < VANISHING_AT_INIT or the total < VANISHED_TOTAL."""
    first, last = norms[names[0]], norms[names[-1]]
    total = math.sqrt(sum(v * v for v in norms.values())) if all(map(math.isfinite, norms.values())) else math.inf
    ratio = first / last if last > 0 else math.inf
    numbers = {"init_grad_norms": {k: json_safe(v) for k, v in norms.items()}, "init_grad_first_last": json_safe(ratio),
               "init_grad_total": json_safe(total)}
    where = (f"gradient norms at init: first layer {names[0]} {first:.3g}, last {names[-1]} {last:.3g} "
             f"(ratio {ratio:.3g}), total {total:.3g}")
    if not math.isfinite(total) or total > EXPLODING_AT_INIT:
        return numbers, [Finding("exploding_gradients", "warning", where + f" (> {EXPLODING_AT_INIT:g})",
                                 facts={"at_init": True, "total": json_safe(total), "first_last": json_safe(ratio),
                                        "non_finite": not math.isfinite(total)},
                                 layer=names[0], score=min(1.0, 0.6 + math.log10(max(total, 1.0) / EXPLODING_AT_INIT) / 10))]
    if ratio < VANISHING_AT_INIT or total < VANISHED_TOTAL:
        return numbers, [Finding("vanishing_gradients", "warning",
                                 where + f" (first/last < {VANISHING_AT_INIT:g} or total < {VANISHED_TOTAL:g})",
                                 facts={"at_init": True, "total": total, "first_last": json_safe(ratio)},
                                 layer=names[0], score=0.7)]
    return numbers, []


def probe_init_gradients(kit: Kit) -> tuple[dict, list[Finding]]:
    """One backward pass at init (train mode, the first batch): per-layer gradient norms of the
    Linear/Conv weights, first vs last. The lecture's pictures of activations dying out (small
    init) or blowing up (large init) show here before any step is taken."""
    x, y = kit.xy(1)
    model = copy.deepcopy(kit.model).train()
    layers = weighted_layers(model)
    if len(layers) < 2:
        return {"init_grad_norms": None}, []
    kit.loss_fn(kit.out(model, x, y), y).backward()
    norms = {n: float(w.grad.norm()) if w.grad is not None else 0.0 for n, w in layers}
    numbers, found = init_gradient_findings(norms, [n for n, _ in layers])
    last_name, last_w = layers[-1]
    # a gradient that is there and exactly 0 (None: the loss does not reach the layer, another fault)
    last_bias = getattr(dict(model.named_modules()).get(last_name), "bias", None)
    # ... and the loss depends on the output (dL/db = sum of delta != 0; a constant loss, e.g. a softmax
    # over a size-1 axis, gives 0 everywhere with live units)
    moves = last_bias is None or last_bias.grad is None or bool(torch.count_nonzero(last_bias.grad))
    if last_w.grad is not None and norms[last_name] == 0.0 and float(last_w.detach().norm()) > 0 and moves:
        found = [dead_units_finding(last_name)] + found   # causes.py: its symptoms
    return numbers, found


def dead_units_finding(last: str) -> Finding:
    """The last layer's weight gradient dL/dW = delta^T h (delta = dL/d(output), h its inputs) is
    exactly 0 with nonzero weights only when h = 0 for every example: the hidden units feeding it
    are all off (dead ReLUs, e.g. a negative bias), so no layer below gets a gradient either."""
    return Finding("dead_relu", "warning",
                   f"the last layer {last} has nonzero weights yet a weight gradient of exactly 0 at init: its inputs "
                   "(the last hidden activations) are 0 for every example, the ReLU units are dead",
                   facts={"at_init": True, "last_grad_zero": True, "fraction": 1.0}, layer=last, score=1.0)


# ---------------------------------------------------------------- overfit a tiny subset
def probe_overfit_tiny(kit: Kit, examples: int = TINY_EXAMPLES, steps: int = TINY_STEPS) -> tuple[dict, list[Finding]]:
    """Train a copy on the first ``examples`` examples, full batch, with the kit's step at its lr,
    until the step's own (train-mode) logits classify every one right or ``steps`` updates pass;
    a model that cannot is broken or the lr is off. ``cannot_overfit_tiny``: error when train_acc < 1."""
    if not kit.classification:
        return {}, []
    x, y = kit.xy()
    model, _, step = kit.fresh()
    x, y = _on(model, x[:examples], y[:examples])
    model.train()
    first = math.nan
    for updates in range(1, steps + 1):
        loss, logits = step(x, y)                        # one update; logits from before it
        first = loss if updates == 1 else first
        seen = updates - 1 + kit.closure                 # the updates these logits saw (closure steps: after)
        acc = kit.correct(logits, y)
        if acc == 1.0 or not math.isfinite(loss):   # (reachable < 1: the budget runs out, then judged)
            break
    else:                                                # the budget ran out: read the final model
        with torch.no_grad():
            logits = kit.out(model, x, y)
        seen, loss = steps, float(kit.loss_fn(logits, y))
        acc = kit.correct(logits, y)
    numbers = {"overfit_tiny": {"examples": len(x), "steps": seen, "train_acc": acc, "final_loss": json_safe(loss),
                                "loss": json_safe(loss), "first_loss": json_safe(first), "lr": kit.lr,
                                "optimizer": kit.optimizer_name}}
    # a sequence's first targets are ambiguous (20 texts may start alike): it must memorise, not be
    # perfect; its loss falling below SEQUENCE_MEMORISED of where it began says the net learns
    reachable = reachable_accuracy(x, kit.flat(y)) if kit.per_example else 1.0
    numbers["overfit_tiny"]["reachable_acc"] = reachable
    if acc >= reachable - 1e-4 or (not kit.per_example and math.isfinite(loss) and loss < SEQUENCE_MEMORISED * first):
        return numbers, []
    return numbers, [Finding("cannot_overfit_tiny", "error",
                             f"after {seen} steps on {len(x)} examples: train accuracy {acc:.0%}, loss {loss:.4g} "
                             f"({kit.optimizer_name}, lr {kit.lr})", facts={"train_acc": acc, "steps": seen, "lr": kit.lr},
                             score=1.0 - acc)]


def reachable_accuracy(x: torch.Tensor, y: torch.Tensor) -> float:
    """The best train accuracy any model can reach on ``x: (N, ...)``, ``y: (N,)``: identical inputs
    with different labels (a context of 3 characters followed by different next ones) can only
    be given the majority label of their group."""
    if x.shape[0] != y.shape[0] or y.ndim != 1:
        return 1.0
    _, group = torch.unique(x.reshape(len(x), -1), dim=0, return_inverse=True)
    if int(group.max()) + 1 == len(x):
        return 1.0
    best = 0
    for g in group.unique():
        _, counts = torch.unique(y[group == g], return_counts=True)
        best += int(counts.max())
    return best / len(x)


def past_the_minimum(kit: Kit, probes: dict) -> bool:
    """Sequence targets, and the kit's lr beyond the lr where the range test's loss was lowest."""
    high = (probes.get("lr_range") or {}).get("high")
    return not kit.per_example and bool(high) and bool(kit.lr) and kit.lr > high


def lr_past_minimum(kit: Kit, probes: dict, found: list[Finding]) -> list[Finding]:
    """A sequence model that cannot memorise 20 sequences at the run's lr, an lr beyond the range
    test's minimum (warmup and clipping do not bound AdamW's step): ``lr_too_high`` (warning), and
    cannot_overfit_tiny becomes its symptom. Only for sequence targets: the constant-lr limit (3x
    the minimum, :func:`~babysitter.doctor.lr_range.lr_findings`) stays as calibrated for the rest."""
    if not past_the_minimum(kit, probes) or any(f.id == "lr_too_high" for f in found):
        return []
    tiny = next((f for f in found if f.id == "cannot_overfit_tiny"), None)
    if tiny is None:
        return []
    high, suggested = probes["lr_range"]["high"], probes["lr_range"]["suggested"]
    tiny.adjust(0.0, "at an lr past the range test's minimum", cause="lr_too_high")
    return [Finding("lr_too_high", "warning",
                    f"{kit.LR_KEY} {kit.lr:.3g} is {kit.lr / high:.3g}x the lr where the range test's loss was lowest "
                    f"({high:.3g}), and a copy at it cannot memorise {TINY_EXAMPLES} sequences",
                    score=0.6, facts={"lr": kit.lr, "suggested": suggested, "range_minimum": high,
                                      "overfit_tiny_failed": True})]

