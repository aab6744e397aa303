"""The preflight experiments, once, on what every kind of run has: a :class:`Kit` is a model to
copy, an optimizer to rebuild from its class and param_groups, a loss function and a few batches.

Three ways of making a kit: a watched script (:mod:`babysitter.doctor.watch`) and a Lightning run
(:mod:`babysitter.integrations.lightning`) build theirs from torch's hooks (:meth:`Kit.from_run`);
a spec builds a :class:`babysitter.doctor.probes.SpecKit`, whose copies train with the Trainer's own
step (penalty, clipping, closure optimizers) and whose advice names spec keys. Every probe works on
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
                   (:func:`read_curve`, :func:`lr_findings`) -> lr band, lr_too_high / lr_too_low
labels_look_random train a copy on the first batches, score it on later ones: accuracy vs chance
unshuffled_data    distinct labels per batch vs what shuffled batches hold: ``C (1 - (1 - 1/C)^B)``
=================  ===================================================================================
Class-based probes (init_loss vs ln C, overfit_tiny, labels, shuffling) run only for a cross-entropy
or NLL loss with integer targets; a regression (MSE, ...) gets the others, and no class finding.
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from babysitter.doctor.findings import Finding, json_safe
from babysitter.doctor.instruments import weighted_layers

TINY_EXAMPLES, TINY_STEPS = 20, 300
SWEEP_LRS = (1e-6, 10.0)
SWEEP_STEPS = 100
DIVERGED = 4.0          # stop when the running median of the loss exceeds 4x its minimum
WINDOW = 5              # running median / mean window (steps)

# A fresh copy: (model, optimizer, step); step(x, y) -> (loss before the update, logits: (N, C))
Step = Callable[[torch.Tensor, torch.Tensor], tuple[float, torch.Tensor]]

CODE_ADVICE = {
    "data_not_normalized": "standardize the inputs: x = (x - mean) / std with the training set's mean and std "
                           "(e.g. transforms.Normalize(mean, std), or StandardScaler fitted on train)",
    "init_loss_off": "scale the last layer's initial weights down (e.g. nn.init.normal_(last.weight, std=1e-2); "
                     "nn.init.zeros_(last.bias)), or use nn.init.kaiming_normal_ for ReLU layers",
    "vanishing_gradients": "initialise with nn.init.kaiming_normal_ (ReLU) or nn.init.xavier_normal_ (tanh), "
                           "or add nn.BatchNorm1d/2d after the layers",
    "exploding_gradients": "initialise with nn.init.kaiming_normal_ (ReLU) or nn.init.xavier_normal_ (tanh), "
                           "or add nn.BatchNorm1d/2d after the layers; "
                           "clip: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)",
    "dead_relu": "do not shift the biases negative (nn.init.zeros_(layer.bias)); nn.init.kaiming_normal_; "
                 "nn.LeakyReLU instead of ReLU",
    "cannot_overfit_tiny": "the model cannot memorise 20 examples: check the lr (see lr_range), the loss's "
                           "inputs, and that the optimizer holds the model's parameters",
}


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
                   [(x.detach().clone(), y.detach().clone()) for x, y in batches], loss_name, num_classes)

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
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = self.loss_fn(out, y)
            loss.backward()
            opt.step()
            return float(loss.detach()), out.detach()
        return model, opt, step

    def advise(self, finding: str, suggested: float | None = None) -> str:
        """What to change for ``finding``, as code; ``suggested``: the range test's lr."""
        if finding in ("lr_too_high", "lr_too_low"):
            return f"torch.optim.{self.optimizer_name}(..., lr={self.lr:g}) -> lr={float(f'{suggested:.2g}'):g}"
        return CODE_ADVICE[finding]

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


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        model.eval()
        acc = float((model(x).argmax(1) == y).float().mean())
        model.train()
    return acc


# ---------------------------------------------------------------- input scale
def normalization_findings(mean: float, std: float, advice: str) -> list[Finding]:
    """``data_not_normalized`` from the inputs' mean and std over all entries: warning when
    std > 5 or std < 0.2 (the scale is off) or |mean| > 2 std (an offset); info when
    0.5 std < |mean| <= 2 std (e.g. [0, 1] pixels)."""
    scale_off = std > 5.0 or std < 0.2
    offset = abs(mean) / max(std, 1e-12)
    if not scale_off and offset <= 0.5:
        return []
    severity = "warning" if scale_off or offset > 2.0 else "info"
    score = max(min(1.0, abs(math.log10(max(std, 1e-12))) / 2), min(1.0, offset / 4))
    return [Finding("data_not_normalized", severity,
                    f"train inputs: mean {mean:.4g}, std {std:.4g} over all entries "
                    f"(|mean|/std = {offset:.2f}; expected mean ~0, std ~1)", advice, score=score)]


def probe_input_scale(kit: Kit) -> tuple[dict, list[Finding]]:
    x, _ = kit.xy()
    x = x.float()
    mean, std = float(x.mean()), float(x.std())
    found = normalization_findings(mean, std, kit.advise("data_not_normalized"))
    return {"input_scale": {"mean": mean, "std": std, "min": float(x.min()), "max": float(x.max())}}, found


# ---------------------------------------------------------------- init loss
def init_loss_findings(loss: float, score_std: float, num_classes: int, advice: str) -> list[Finding]:
    """The init loss against ln C; ``advice`` for a loss too high. With m = 0.5 + 0.1 ln C
    (C = 10: m = 0.73), ``init_loss_off``: warning when loss - ln C > 3m (C = 10: scores of std
    >~2.5, e.g. N(0, 1) weights); info when loss - ln C > m (scores of std >~1.2: He init without a
    small last layer gives ~1-1.5) or ln C - loss > m (better than chance untrained: pretrained, or
    a leak). ``loss_not_finite``: error when the loss is NaN/Inf at init."""
    expected = math.log(num_classes)
    if not math.isfinite(loss):
        return [Finding("loss_not_finite", "error", f"initial loss is {loss} (scores std {score_std})",
                        "check the model's forward pass and the input data for overflow", score=1.0)]
    margin = 0.5 + 0.1 * expected
    gap = loss - expected
    where = f"initial loss {loss:.4f} vs ln C = ln {num_classes} = {expected:.4f} (scores std {score_std:.3g})"
    if gap > margin:
        severity = "warning" if gap > 3 * margin else "info"
        return [Finding("init_loss_off", severity, where + f"; {gap:.3f} above (margins {margin:.3f}, "
                        f"{3 * margin:.3f})", advice, score=min(1.0, gap / (6 * margin)))]
    if -gap > margin:
        return [Finding("init_loss_off", "info", where + f"; {-gap:.3f} below chance (margin {margin:.3f})",
                        "the untrained model beats chance: pretrained weights, a label leak into the "
                        "inputs, or biases set to the class priors", score=0.3)]
    return []


def probe_init_loss(kit: Kit) -> tuple[dict, list[Finding]]:
    """Loss at chance: with small weights, softmax gives 1/C to every class, loss = ln C. In TRAIN
    mode under no_grad: the loss the first training step sees (train-mode batch norm normalises
    with the batch statistics; eval mode would use the untouched running stats (0, 1))."""
    x, y = kit.xy()
    model = copy.deepcopy(kit.model).train()
    with torch.no_grad():
        out = model(x)
        loss, score_std = float(kit.loss_fn(out, y)), float(out.float().std())
    numbers = {"init_loss": json_safe(loss), "expected_init_loss": math.log(kit.num_classes) if kit.classification else None,
               "init_score_std": json_safe(score_std)}
    if not kit.classification:
        return numbers, []
    return numbers, init_loss_findings(loss, score_std, kit.num_classes, kit.advise("init_loss_off"))


# ---------------------------------------------------------------- gradients at init
VANISHING_AT_INIT = 1e-3   # first-layer gradient norm / last-layer gradient norm below this,
VANISHED_TOTAL = 1e-4      # or every gradient ~0 (the lecture's small init: activations -> 0, so dW -> 0)
EXPLODING_AT_INIT = 1e3    # total gradient norm above this (healthy nets: ~0.1..10 at init)


def init_gradient_findings(norms: dict[str, float], names: list[str], advice: str,
                           explode_advice: str) -> tuple[dict, list[Finding]]:
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
                                 explode_advice,
                                 layer=names[0], score=min(1.0, 0.6 + math.log10(max(total, 1.0) / EXPLODING_AT_INIT) / 10))]
    if ratio < VANISHING_AT_INIT or total < VANISHED_TOTAL:
        return numbers, [Finding("vanishing_gradients", "warning",
                                 where + f" (first/last < {VANISHING_AT_INIT:g} or total < {VANISHED_TOTAL:g})",
                                 advice, layer=names[0], score=0.7)]
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
    kit.loss_fn(model(x), y).backward()
    norms = {n: float(w.grad.norm()) if w.grad is not None else 0.0 for n, w in layers}
    numbers, found = init_gradient_findings(norms, [n for n, _ in layers], kit.advise("vanishing_gradients"),
                                            kit.advise("exploding_gradients"))
    last_name, last_w = layers[-1]
    # a gradient that is there and exactly 0 (None: the loss does not reach the layer, another fault)
    if last_w.grad is not None and norms[last_name] == 0.0 and float(last_w.detach().norm()) > 0:
        found = [dead_units_finding(last_name, kit.advise("dead_relu"))] + found   # explain_run: its symptoms
    return numbers, found


def dead_units_finding(last: str, advice: str = CODE_ADVICE["dead_relu"]) -> Finding:
    """The last layer's weight gradient dL/dW = delta^T h (delta = dL/d(output), h its inputs) is
    exactly 0 with nonzero weights only when h = 0 for every example: the hidden units feeding it
    are all off (dead ReLUs, e.g. a negative bias), so no layer below gets a gradient either."""
    return Finding("dead_relu", "warning",
                   f"the last layer {last} has nonzero weights yet a weight gradient of exactly 0 at init: its inputs "
                   "(the last hidden activations) are 0 for every example, the ReLU units are dead",
                   advice, layer=last, score=1.0)


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
    for updates in range(1, steps + 1):
        loss, logits = step(x, y)                        # one update; logits from before it
        seen = updates - 1 + kit.closure                 # the updates these logits saw (closure steps: after)
        acc = float((logits.argmax(1) == y).float().mean())
        if acc == 1.0 or not math.isfinite(loss):
            break
    else:                                                # the budget ran out: read the final model
        with torch.no_grad():
            logits = model(x)
        seen, loss = steps, float(kit.loss_fn(logits, y))
        acc = float((logits.argmax(1) == y).float().mean())
    numbers = {"overfit_tiny": {"examples": len(x), "steps": seen, "train_acc": acc, "final_loss": json_safe(loss),
                                "loss": json_safe(loss), "lr": kit.lr, "optimizer": kit.optimizer_name}}
    if acc == 1.0:
        return numbers, []
    return numbers, [Finding("cannot_overfit_tiny", "error",
                             f"after {seen} steps on {len(x)} examples: train accuracy {acc:.0%}, loss {loss:.4g} "
                             f"({kit.optimizer_name}, lr {kit.lr})", kit.advise("cannot_overfit_tiny"), score=1.0 - acc)]


# ---------------------------------------------------------------- learning-rate range test
def lr_sweep(kit: Kit, seed: int, x: torch.Tensor, y: torch.Tensor, lrs: np.ndarray) -> tuple[list[float], str]:
    """One range test on copy ``seed`` of the kit: step t trains on the next mini-batch
    (``batch_size``, reshuffled each pass, order from ``kit.seed + seed``) at ``lr = lrs[t]`` and
    records the mini-batch loss before the step. Stops at a NaN/Inf loss ("not finite") or when the
    running median of the last 5 losses exceeds 4x its minimum so far ("diverged"); else "end"."""
    model, opt, step = kit.fresh(seed=seed)
    x, y = _on(model, x, y)
    gen = torch.Generator().manual_seed(kit.seed + seed)
    n = len(x)
    bs = min(n, kit.batch_size or len(kit.batches[0][0]))
    order, pos = torch.randperm(n, generator=gen), 0
    losses, best = [], math.inf
    model.train()
    for lr in lrs:
        if pos + bs > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + bs].to(x.device)
        pos += bs
        xb, yb = x[idx], y[idx]
        if kit.augment is not None:
            xb = kit.augment(xb, gen)
        for group in opt.param_groups:
            group["lr"] = float(lr)
        loss = step(xb, yb)[0]
        if not math.isfinite(loss):
            return losses, "not finite"
        losses.append(loss)
        median = float(np.median(losses[-WINDOW:]))
        best = min(best, median)
        if median > DIVERGED * best:
            return losses, "diverged"
    return losses, "end"


def smooth(losses) -> np.ndarray:
    """Centred running median (window 5) then centred running mean (window 5), windows cut at
    the ends: the median drops single bad batches, the mean evens the steps out, and being
    centred neither shifts the curve towards higher lr (an EMA's lag does)."""
    a, h = np.asarray(losses, dtype=float), WINDOW // 2
    med = np.array([np.median(a[max(0, i - h):i + h + 1]) for i in range(len(a))])
    return np.array([med[max(0, i - h):i + h + 1].mean() for i in range(len(a))])


def read_curve(lrs: np.ndarray, losses: list[float]) -> dict | None:
    """Landmarks of one smoothed curve s(lr), or None when it does not fall by 5% of s[0]:

    minimum  the lr where s is lowest (beyond it the loss rises: the edge of stability)
    steep    the lr of steepest descent, min ds/dlog10(lr), at or before the minimum
    low      the first lr where s has fallen by 10% of s[0] - min s (learning has started)
    """
    if len(losses) < 2 * WINDOW:
        return None
    s = smooth(losses)
    i_min = int(np.argmin(s))
    drop = s[0] - s[i_min]
    if i_min == 0 or drop < 0.05 * abs(s[0]):
        return None
    slope = np.gradient(s[:i_min + 1], np.log10(lrs[:i_min + 1]))
    i_low = int(np.argmax(s <= s[0] - 0.1 * drop))
    return {"low": float(lrs[i_low]), "steep": float(lrs[int(np.argmin(slope))]), "minimum": float(lrs[i_min])}


def _geomedian(values: list[float]) -> float:
    return float(10 ** np.median(np.log10(values)))


def probe_lr_range(kit: Kit) -> tuple[dict, list[Finding]]:
    """Learning-rate range test (Smith 2017) on ``kit.seeds`` fresh copies (:func:`lr_sweep`,
    lr rising exponentially from 1e-6 to 10 over 100 steps, :func:`read_curve`). Across the copies
    whose loss fell, medians in log lr:

        high       = median(minimum)       the largest lr that still lowered the loss
        low        = median(low)           the lr where the loss started to fall
        suggested  = high / 10             the lr applied from the first step (fastai's
                                           "minimum / 10"; ``steep`` is reported, not used: it
                                           moves with the sweep's steps per decade)
                   = high / 3              ``kit.onecycle``: the lr is the PEAK, reached after a warm-up

    Findings: :func:`lr_findings`. A kit whose optimizer takes closure steps (L-BFGS, Newton: line
    search / exact steps) is not swept.
    """
    if kit.closure:
        return {"lr_range": {"suggested": None, "low": None, "high": None,
                             "skipped": f"{kit.optimizer_name} takes closure steps; no range test"}}, []
    x, y = kit.xy()
    lrs = np.geomspace(*SWEEP_LRS, SWEEP_STEPS)
    runs = []
    for i in range(kit.seeds):
        losses, stopped = lr_sweep(kit, i, x, y, lrs)
        runs.append({"seed": kit.seed + i, "stopped": stopped, "steps": len(losses),
                     "landmarks": read_curve(lrs, losses), "lr": lrs[:len(losses)].tolist(), "loss": losses})
    read = [r["landmarks"] for r in runs if r["landmarks"] is not None]
    band = {"suggested": None, "low": None, "high": None, "steep": None}
    if read:
        high = _geomedian([r["minimum"] for r in read])
        band = {"suggested": high / 3 if kit.onecycle else high / 10,
                "low": _geomedian([r["low"] for r in read]), "high": high,
                "steep": _geomedian([r["steep"] for r in read])}
    numbers = {"lr_range": {**band, "steps": runs[0]["steps"], "seeds_read": len(read), "seeds": runs}}
    return numbers, lr_findings(kit, band)


def _outside(ratio: float) -> float:
    """Score of an lr ``ratio`` times outside the band: d / (1 + d), d = log10(ratio)."""
    d = math.log10(ratio)
    return d / (1 + d)


def lr_findings(kit: Kit, band: dict) -> list[Finding]:
    """``lr_too_high``: warning when the kit's lr > 3 high (onecycle: 10 high); ``lr_too_low``:
    warning when it is < low / 10. Score d / (1 + d), d = log10(lr / high) or log10(low / lr).
    Calibration, training to the end at a range of lr (digits MLP and CNN, MNIST-1D CNN): at a
    constant lr training failed or degraded from 3.4-5x high and high / 10 trained well; a
    one-cycle peak trained well up to 11x high with Nesterov + batch norm (failed at 22x) but
    failed at 3x with Adam (best at high / 3), so the one-cycle limit misses some Adam failures."""
    lr, low, high = kit.lr, band["low"], band["high"]
    if high is None or lr is None:
        return []
    limit = (10 if kit.onecycle else 3) * high
    where = (f"{kit.LR_KEY} {lr:.3g}{' (the one-cycle peak)' if kit.onecycle else ''} vs the range test "
             f"({kit.optimizer_name}): the loss falls from lr {low:.3g} and is lowest at {high:.3g}")
    if lr > limit:
        return [Finding("lr_too_high", "warning", where + f"; {lr / high:.3g}x that (limit {limit / high:g}x)",
                        kit.advise("lr_too_high", band["suggested"]), score=_outside(lr / high))]
    if lr < low / 10:
        return [Finding("lr_too_low", "warning", where + f"; {low / lr:.3g}x below where it starts to fall (limit 10x)",
                        kit.advise("lr_too_low", band["suggested"]), score=_outside(low / lr))]
    return []


# ---------------------------------------------------------------- the batches' labels
def expected_distinct(c: int, b: int) -> float:
    """Distinct labels expected in a batch of ``b`` drawn from ``c`` equally frequent classes."""
    return c * (1 - (1 - 1 / c) ** b)


def probe_shuffling(kit: Kit) -> tuple[dict, list[Finding]]:
    """``unshuffled_data``: warning when the first batches hold on average <= max(1.5, 0.3 E)
    distinct labels, E = :func:`expected_distinct` (C, B), and E >= 3."""
    if not kit.classification or len(kit.batches) < 2:
        return {}, []
    distinct = [int(torch.unique(y).numel()) for _, y in kit.batches]
    b = int(np.median([len(y) for _, y in kit.batches]))
    c = max(kit.num_classes, int(max(int(y.max()) for _, y in kit.batches)) + 1)
    e = expected_distinct(c, b)
    mean = float(np.mean(distinct))
    numbers = {"batch_labels": {"distinct": distinct, "expected": e, "batch_size": b, "classes": c}}
    if e < 3 or mean > max(1.5, 0.3 * e):
        return numbers, []
    return numbers, [Finding("unshuffled_data", "warning",
                             f"the first {len(distinct)} batches hold {mean:.2g} distinct labels on average "
                             f"({distinct}); shuffled batches of {b} from {c} classes hold ~{e:.2g}",
                             "shuffle the training data every epoch: DataLoader(..., shuffle=True), "
                             "or index with torch.randperm(N) each epoch", score=min(1.0, 1 - mean / e + 0.3))]


LABELS_STEPS = 150


def probe_labels(kit: Kit, steps: int = LABELS_STEPS) -> tuple[dict, list[Finding]]:
    """Do the labels carry signal? Train a copy on all batches but the last quarter (at the run's
    optimizer and lr) and score it on the held-out quarter; the same with the training labels
    permuted. ``labels_look_random``: warning when the copy learnt (its training loss fell by
    > 20 %) but scores <= chance + max(0.1, 3 sqrt(p (1 - p) / n)) held out, p = 1/C. Skipped
    when the batches look unshuffled (later batches hold other classes) or fewer than 4 batches."""
    if not kit.classification or len(kit.batches) < 4:
        return {}, []
    k = len(kit.batches) - max(1, len(kit.batches) // 4)
    x, y = kit.xy(k)
    hx = torch.cat([b[0] for b in kit.batches[k:]])
    hy = torch.cat([b[1] for b in kit.batches[k:]])
    # a small data set wraps into its next epoch within the batches seen: held out means never trained on
    seen = torch.cdist(hx.flatten(1).float(), x.flatten(1).float()).amin(1) <= 1e-6
    hx, hy = hx[~seen], hy[~seen]
    if len(hy) < 8:
        return {"labels": {"skipped": f"{len(hy)} later examples not among the first batches"}}, []
    result = {}
    for name, labels in (("real", y), ("permuted", y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))])):
        model, _, step = kit.fresh(kit.labels_lr)
        model.train()
        bs = len(kit.batches[0][0])
        losses = []
        for t in range(steps):
            i = (t * bs) % max(len(x) - bs + 1, 1)
            losses.append(step(x[i:i + bs], labels[i:i + bs])[0])
        first, last = np.mean(losses[:10]), np.mean(losses[-10:])
        result[name] = {"held_out_acc": _accuracy(model, hx, hy), "train_loss_first": json_safe(float(first)),
                        "train_loss_last": json_safe(float(last))}
    p = 1 / kit.num_classes
    margin = max(0.1, 3 * math.sqrt(p * (1 - p) / len(hy)))
    real = result["real"]
    learnt = (math.isfinite(real["train_loss_first"] or math.nan) and math.isfinite(real["train_loss_last"] or math.nan)
              and real["train_loss_last"] < 0.8 * min(real["train_loss_first"], math.log(kit.num_classes)))
    numbers = {"labels": {**result, "chance": p, "margin": margin, "held_out": len(hy), "trained_on": len(y)}}
    if not learnt or real["held_out_acc"] > p + margin:
        return numbers, []
    return numbers, [Finding(
        "labels_look_random", "warning",
        f"a copy trained {steps} steps on the first {len(y)} examples fits them (loss {real['train_loss_first']:.3g} -> "
        f"{real['train_loss_last']:.3g}) but scores {real['held_out_acc']:.0%} on {len(hy)} later examples: chance is "
        f"{p:.0%} (+ margin {margin:.0%}); with permuted labels {result['permuted']['held_out_acc']:.0%}",
        "the labels do not follow the inputs: check that x and y are indexed/shuffled together "
        "(one permutation for both, or a TensorDataset), and the label column", score=0.8)]


PROBES = (("input_scale", probe_input_scale), ("init_loss", probe_init_loss),
          ("init_gradients", probe_init_gradients), ("batch_labels", probe_shuffling),
          ("lr_range", probe_lr_range), ("labels", probe_labels), ("overfit_tiny", probe_overfit_tiny))


def run_kit_probes(kit: Kit, budget: float = 30.0) -> tuple[dict, list[Finding]]:
    """Every probe in :data:`PROBES` while ``budget`` seconds last, on copies, with torch's CPU (and
    CUDA) RNG restored afterwards. A probe that fails is recorded under ``probes["errors"]``:
    the run being watched must never fail because of the doctor."""
    probes, found, seconds, errors = {}, [], {}, {}
    t0 = time.perf_counter()
    unshuffled = False
    with kept_rng(), torch.enable_grad():
        for name, probe in PROBES:
            if time.perf_counter() - t0 > budget:
                probes.setdefault("skipped", []).append(name)
                continue
            if name == "labels" and unshuffled:
                continue   # later batches hold other classes: held-out accuracy would say nothing
            t = time.perf_counter()
            try:
                numbers, f = probe(kit)
            except Exception as e:  # noqa: BLE001 - a probe's failure is reported, never raised into the script
                errors[name] = f"{type(e).__name__}: {e}"
                continue
            finally:
                seconds[name] = round(time.perf_counter() - t, 3)
            probes.update(numbers)
            found += f
            unshuffled = unshuffled or any(x.id == "unshuffled_data" for x in f)
            if any(x.id == "lr_too_high" for x in f):   # labels_look_random asks about the labels, not the lr
                kit.labels_lr = probes["lr_range"]["suggested"]
    probes["seconds"] = seconds
    if errors:
        probes["errors"] = errors
    return probes, found
