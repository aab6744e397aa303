"""Preflight probes (CS231n, Neural Networks 3: "Babysitting the learning process"): experiments
run before training, each returning ``(numbers, findings)``. :func:`run_probes` runs them in order:

data          train inputs over all entries: mean, std, min, max, non-finite count, per-feature
              spread; class counts and imbalance = max count / min count (over present classes).
              ``data_not_normalized``: warning when std > 5 or std < 0.2 (the scale is off) or
              |mean| > 2 std (an offset); info when 0.5 std < |mean| <= 2 std (e.g. [0, 1] pixels).
init_loss     plain cross entropy (no label smoothing, no penalty, dropout off) of the freshly
              initialised model on up to 1024 training examples, in TRAIN mode under no_grad: the
              loss the first training step sees (train-mode batch norm normalises with the batch
              statistics; eval-mode would use the untouched running stats (0, 1), a different
              function). With small weights the scores are ~0 and the loss is ln C.
              With m = 0.5 + 0.1 ln C (C = 10: m = 0.73), ``init_loss_off``: warning when
              loss - ln C > 3m (C = 10: scores of std >~2.5, e.g. N(0, 1) weights); info when
              loss - ln C > m (scores of std >~1.2: He init without a small last layer gives
              ~1-1.5) or ln C - loss > m (better than chance untrained: pretrained, or a leak).
              ``loss_not_finite``: error when the loss is NaN/Inf at init.
regularization  reg_loss_delta = (loss + penalty) - loss = penalty(W) at init, computed with the
              trainer's own Penalty over the trainer's penalized weights (no float32 cancellation).
              ``reg_does_not_raise_loss``: when regularize.l1 or l2 > 0 and delta <= 1e-7 * loss
              (below float32 resolution of the loss, so adding it changes nothing): warning when no
              weight is penalized (weights not in Linear/Conv layers), info when the penalized weights
              are all ~zero at init.
overfit_tiny  20 training examples (a seeded random draw, so class-sorted data still gives a mix),
              regularization off (l1 = l2 = weight_decay = dropout = stochastic_depth = 0,
              label_smoothing 0, no augmentation, no max-norm), the spec's optimizer at the spec's lr
              held constant, full batch, up to 300 steps; stops at the first step whose train-mode
              logits classify all 20 correctly. ``cannot_overfit_tiny``: error when train_acc < 1.
gradcheck     :func:`babysitter.gradcheck.gradient_check` (20 sampled entries, float64, eval mode)
              of plain cross entropy on 8 training examples. ``gradient_check_failed``: error when
              the max relative error > 1e-2 (the notes' "probably wrong").
lr_range      learning-rate range test (Smith 2017) over 3 seeds, see :func:`probe_lr_range`.
              ``lr_too_high``: warning when optim.lr > 3x the lowest-loss lr (onecycle peak: 10x);
              ``lr_too_low``: warning when optim.lr < 1/10 of the lr where the loss starts to fall.

Every probe builds its own model with ``make_model(spec)`` and puts it back as it found it
(parameters, buffers, train/eval mode, torch's RNG), so a ``make_model`` that returns the same
module every time is safe too.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.data import Dataset
from babysitter.doctor.findings import Finding, json_safe, rank
from babysitter.gradcheck import gradient_check
from babysitter.spec import RunSpec, override
from babysitter.train.trainer import Trainer

INIT_EXAMPLES = 1024
TINY_EXAMPLES, TINY_STEPS = 20, 300
GRADCHECK_EXAMPLES, GRADCHECK_SAMPLES, GRADCHECK_WRONG = 8, 20, 1e-2
SWEEP_LRS = (1e-6, 10.0)
SWEEP_STEPS = 100
DIVERGED = 4.0          # stop when the running median of the loss exceeds 4x its minimum
WINDOW = 5              # running median / mean window (steps)
CLOSURE_OPTIMIZERS = ("lbfgs", "newton")

ModelFactory = Callable[[RunSpec], nn.Module]


# ---------------------------------------------------------------- shared pieces
def _spec_without_regularization(spec: RunSpec) -> RunSpec:
    """The spec with every regulariser off and a constant lr that only the probe changes
    (schedule unit ``epoch``: Trainer.train_step then never steps the schedule)."""
    return override(spec, **{
        "regularize.l1": 0.0, "regularize.l2": 0.0, "regularize.max_norm": None,
        "optim.weight_decay": 0.0, "model.dropout": 0.0, "model.stochastic_depth": 0.0,
        "data.augment": [], "train.label_smoothing": 0.0, "train.ensemble": None,
        "schedule.name": "constant", "schedule.unit": "epoch"})


def _spec_constant_lr(spec: RunSpec) -> RunSpec:
    """The spec as it trains (regularisation kept), with a constant lr that only the probe changes."""
    return override(spec, **{"train.ensemble": None, "schedule.name": "constant", "schedule.unit": "epoch"})


@contextmanager
def _restored(model: nn.Module):
    """Run a probe on ``model``, then restore its parameters and buffers (bit for bit), the
    train/eval mode of every submodule, and torch's CPU RNG."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    with torch.random.fork_rng(devices=[]):
        try:
            yield model
        finally:
            model.load_state_dict(state)
            for m, mode in zip(model.modules(), modes):
                m.training = mode


def _draw(data: Dataset, k: int, seed: int) -> torch.Tensor:
    """Indices of ``k`` training examples, a seeded random draw (stored data may be class-sorted)."""
    return torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))[:k]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def _trainer(model, data, spec) -> Trainer:
    return Trainer(model, data, spec, progress=False)


# ---------------------------------------------------------------- 1. data
def _feature_moments(x: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and population variance of ``x: (N, D)``, float64 sums over row chunks
    (no float64 copy of a large training set)."""
    s1 = torch.zeros(x.shape[1], dtype=torch.float64)
    s2 = torch.zeros(x.shape[1], dtype=torch.float64)
    for start in range(0, len(x), chunk):
        c = x[start:start + chunk].double().cpu()
        s1 += c.sum(0)
        s2 += (c * c).sum(0)
    mean = s1 / len(x)
    return mean, (s2 / len(x) - mean * mean).clamp_min(0.0)


def probe_data(spec: RunSpec, data: Dataset) -> tuple[dict, list[Finding]]:
    """Statistics of the (preprocessed) training inputs ``x_train: (N, ...)`` over all entries
    and per feature (each of the D = prod(sample_shape) positions), and the class counts.

    Over all entries: ``mean = mean_f(mu_f)``, ``std^2 = mean_f(var_f) + mean_f((mu_f - mean)^2)``.
    """
    x = data.x_train.reshape(len(data.x_train), -1)
    mean_f, var_f = _feature_moments(x)
    mean = float(mean_f.mean())
    std = math.sqrt(float(var_f.mean() + ((mean_f - mean) ** 2).mean()))
    std_f = var_f.sqrt()
    varying = std_f[std_f > 1e-8]
    counts = torch.bincount(data.y_train.cpu(), minlength=data.num_classes)
    present = counts[counts > 0]
    numbers = {
        "mean": mean, "std": std, "min": float(x.min()), "max": float(x.max()),
        "nan": int((~torch.isfinite(x)).sum()),          # the loader rejects NaN/Inf: 0 unless bypassed
        "feature_mean_absmax": float(mean_f.abs().max()),
        "feature_std_min": float(std_f.min()), "feature_std_max": float(std_f.max()),
        "feature_std_ratio": float(varying.max() / varying.median()) if len(varying) else None,
        "class_counts": counts.tolist(),
        "imbalance": float(present.max() / present.min()),
        "empty_classes": torch.nonzero(counts == 0).flatten().tolist(),
    }
    return {"data": numbers}, _normalization_findings(spec, mean, std) + _balance_findings(numbers)


IMBALANCE = 3.0  # largest / smallest class count above which accuracy stops being a fair summary


def _balance_findings(numbers: dict) -> list[Finding]:
    """``class_imbalance`` (info): the largest class outnumbers the smallest by more than 3:1."""
    ratio, counts = numbers["imbalance"], numbers["class_counts"]
    if ratio <= IMBALANCE:
        return []
    return [Finding("class_imbalance", "info",
                    f"training classes range from {min(c for c in counts if c)} to {max(counts)} examples "
                    f"({ratio:.1f}:1 > {IMBALANCE:g}:1)",
                    "read per-class accuracy, not only the overall one; more data for the small classes, "
                    "or a class-balanced subset (data.subset)", score=min(1.0, ratio / 20))]


def _normalization_findings(spec: RunSpec, mean: float, std: float) -> list[Finding]:
    scale_off = std > 5.0 or std < 0.2
    offset = abs(mean) / max(std, 1e-12)
    if not scale_off and offset <= 0.5:
        return []
    severity = "warning" if scale_off or offset > 2.0 else "info"
    steps = spec.data.preprocess
    advice = (f"data.preprocess: {steps} -> ['standardize'] (zero mean, unit variance, fitted on train)"
              if "standardize" not in steps and "whiten" not in steps else
              "the inputs are off after preprocessing; check data.preprocess and the raw data's units")
    score = max(min(1.0, abs(math.log10(max(std, 1e-12))) / 2), min(1.0, offset / 4))
    return [Finding("data_not_normalized", severity,
                    f"train inputs: mean {mean:.4g}, std {std:.4g} over all entries "
                    f"(|mean|/std = {offset:.2f}; expected mean ~0, std ~1)", advice, score=score)]


# ---------------------------------------------------------------- 2. init loss
def _init_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(plain cross entropy, std of the scores) of ``model`` in train mode, no gradients."""
    with _restored(model), torch.no_grad():
        model.train()
        logits = model(x)
        return float(F.cross_entropy(logits, y)), float(logits.float().std())


def probe_init_loss(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """Loss at chance: with small weights, softmax gives 1/C to every class, loss = ln C."""
    model = make_model(_spec_without_regularization(spec))
    device = _device(model)
    idx = _draw(data, INIT_EXAMPLES, spec.seed)
    loss, score_std = _init_loss(model, data.x_train[idx].to(device), data.y_train[idx].to(device))
    numbers = {"init_loss": json_safe(loss), "expected_init_loss": math.log(data.num_classes),
               "init_score_std": json_safe(score_std)}
    return numbers, init_loss_findings(loss, score_std, data.num_classes, _smaller_init(spec))


def init_loss_findings(loss: float, score_std: float, num_classes: int, advice: str) -> list[Finding]:
    """The init loss against ln C (margins in the module docstring); ``advice`` for a loss too high
    (a spec's keys, or a code change for a watched script)."""
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


# ---------------------------------------------------------------- 2b. gradients at init
VANISHING_AT_INIT = 1e-3   # first-layer gradient norm / last-layer gradient norm below this,
VANISHED_TOTAL = 1e-4      # or every gradient ~0 (the lecture's small init: activations -> 0, so dW -> 0)
EXPLODING_AT_INIT = 1e3    # total gradient norm above this (healthy nets: ~0.1..10 at init)


def probe_init_gradients(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """One backward pass at init (train mode, a batch of ``train.batch_size``): per-layer gradient
    norms of the Linear/Conv weights, first vs last. The lecture's pictures of activations dying
    out (small init) or blowing up (large init) show here before any step is taken."""
    from babysitter.doctor.instruments import weighted_layers

    model = make_model(_spec_without_regularization(spec))
    device = _device(model)
    idx = _draw(data, spec.train.batch_size, spec.seed + 1)
    layers = weighted_layers(model)
    if len(layers) < 2:
        return {"init_grad_norms": None}, []
    with _restored(model):
        model.train()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(data.x_train[idx].to(device)), data.y_train[idx].to(device)).backward()
        norms = {name: float(w.grad.norm()) if w.grad is not None else 0.0 for name, w in layers}
        model.zero_grad(set_to_none=True)
    return init_gradient_findings(
        norms, [n for n, _ in layers],
        f"model.init: {spec.model.init} -> he (relu) or xavier (tanh); model.norm: batch",
        f"model.init: {spec.model.init} -> he (or xavier for tanh); model.norm: batch; train.clip_norm: 1.0")


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


# ---------------------------------------------------------------- 2c. batch norm on tiny batches
BN_MIN_BATCH = 8


def probe_batch_statistics(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """Batch norm estimates each feature's mean and variance from the mini-batch; with a handful
    of examples those estimates are noise (with 2, every feature is normalised to +-1), and the
    training loss jumps from batch to batch. Measured: the spread of the loss over 20 batches at init."""
    model = make_model(spec)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    bs = spec.train.batch_size
    if not has_bn or bs >= BN_MIN_BATCH:
        return {}, []
    device = _device(model)
    g = torch.Generator().manual_seed(spec.seed)
    losses = []
    with _restored(model), torch.no_grad():
        model.train()
        for _ in range(20):
            idx = torch.randint(len(data.x_train), (max(bs, 2),), generator=g)
            losses.append(float(F.cross_entropy(model(data.x_train[idx].to(device)), data.y_train[idx].to(device))))
    spread = float(np.std(losses))
    return {"bn_batch_loss_std": spread}, [Finding(
        "noisy_loss", "error" if bs <= 4 else "warning",
        f"batch norm over batches of {bs}: its statistics come from {bs} examples; the loss at init "
        f"varies by std {spread:.3g} across 20 batches",
        f"train.batch_size: {bs} -> 64 (or model.norm: none)", score=0.8)]


def _smaller_init(spec: RunSpec) -> str:
    """Advice in spec keys: the scores at init are not ~0 because the last layer's weights are too big."""
    m = spec.model
    if m.kind == "python":
        return "the model's own init: scale the last layer's initial weights down (e.g. x0.01)"
    if m.init == "small":
        return f"model.init_scale: {m.init_scale} -> 0.01 (the last layer's weights are too big)"
    return f"model.init: {m.init} -> small (N(0, 0.01^2) weights; the last layer's weights are too big)"


# ---------------------------------------------------------------- 3. regularization
def probe_regularization(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """``reg_loss_delta`` = loss with the spec's penalty minus without, at init, as the trainer adds
    it: ``penalty(W) = l1 sum|W| + l2 sum W^2`` over the trainer's penalized weights."""
    reg = spec.regularize
    if not (reg.l1 > 0 or reg.l2 > 0):
        return {"reg_loss_delta": 0.0}, []
    model = make_model(spec)
    with _restored(model):
        trainer = _trainer(model, data, _spec_constant_lr(spec))
        with torch.no_grad():
            delta = float(trainer.penalty([w.double() for w in trainer.weights]))
        idx = _draw(data, INIT_EXAMPLES, spec.seed)
        loss = _init_loss(model, data.x_train[idx].to(trainer.device), data.y_train[idx].to(trainer.device))[0]
    penalized = sum(w.numel() for w in trainer.weights)
    weights = sum(p.numel() for p in model.parameters() if p.ndim >= 2)
    numbers = {"reg_loss_delta": delta, "reg_penalized_weights": penalized, "reg_weight_parameters": weights}
    if delta > 1e-7 * abs(loss):
        return numbers, []
    strengths = f"regularize.l1 = {reg.l1}, l2 = {reg.l2}"
    if penalized == 0:
        return numbers, [Finding(
            "reg_does_not_raise_loss", "warning",
            f"{strengths} but the loss with the penalty minus without is {delta:.3g}: the penalty reaches "
            f"0 of the model's {weights} weight entries (it acts on nn.Linear / nn.Conv weights only)",
            "build the model from nn.Linear / nn.Conv layers, or add your own penalty term; "
            "optim.weight_decay acts on every parameter", score=0.9)]
    return numbers, [Finding(
        "reg_does_not_raise_loss", "info",
        f"{strengths}; penalty at init {delta:.3g} (loss {loss:.4f}) over {penalized} penalized weight entries",
        "the penalized weights are ~zero at init (model.init: zeros?); the penalty acts once they move", score=0.3)]


# ---------------------------------------------------------------- 4. overfit a tiny subset
def probe_overfit_tiny(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """Train on 20 examples with regularisation off until every one is classified right (train
    mode, the step's own logits) or 300 steps pass; a model that cannot is broken or the lr is off."""
    tspec = _spec_without_regularization(spec)
    model = make_model(tspec)
    idx = _draw(data, TINY_EXAMPLES, spec.seed)
    with _restored(model):
        torch.manual_seed(spec.seed)
        trainer = _trainer(model, data, tspec)
        x, y = data.x_train[idx].to(trainer.device), data.y_train[idx].to(trainer.device)
        model.train()
        updates = 0
        while True:
            loss_t, logits = trainer.train_step(x, y)     # one update; logits from before it
            updates += 1
            steps = updates - 1 + trainer.needs_closure   # the updates these logits saw (closure steps: after)
            acc, loss = float((logits.argmax(1) == y).float().mean()), float(loss_t.detach())
            if acc == 1.0 or not math.isfinite(loss):
                break
            if updates == TINY_STEPS:                     # the budget ran out: read the final model
                with torch.no_grad():
                    logits = model(x)
                steps, loss = updates, float(F.cross_entropy(logits, y))
                acc = float((logits.argmax(1) == y).float().mean())
                break
    numbers = {"overfit_tiny": {"examples": len(idx), "steps": steps, "train_acc": acc, "final_loss": json_safe(loss),
                                "lr": spec.optim.lr, "optimizer": spec.optim.name}}
    if acc == 1.0:
        return numbers, []
    return numbers, [Finding(
        "cannot_overfit_tiny", "error",
        f"after {steps} steps on {len(idx)} examples with regularisation off: train accuracy {acc:.2f}, "
        f"loss {loss:.4g} ({spec.optim.name}, lr {spec.optim.lr})",
        f"optim.lr: {spec.optim.lr} is probably too low or too high (see lr_range); else model capacity "
        "(model.hidden) or the labels / loss are wrong", score=1.0 - acc)]


# ---------------------------------------------------------------- 5. gradient check
def probe_gradcheck(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """Analytic vs numerical gradient of plain cross entropy on 8 training examples."""
    model = make_model(spec)
    idx = _draw(data, GRADCHECK_EXAMPLES, spec.seed)
    device = _device(model)
    result = gradient_check(model, data.x_train[idx].to(device), data.y_train[idx].to(device),
                            F.cross_entropy, samples=GRADCHECK_SAMPLES, seed=spec.seed)
    numbers = {"gradcheck_max_rel_error": json_safe(result["max_rel_error"]), "gradcheck": result}
    if result["max_rel_error"] <= GRADCHECK_WRONG:
        return numbers, []
    w = result["worst"]
    return numbers, [Finding(
        "gradient_check_failed", "error",
        f"max relative error {result['max_rel_error']:.3g} over {result['checked']} entries ({result['reading']}); "
        f"worst {w['param']}[{w['index']}]: analytic {w['analytic']:.6g}, numeric {w['numeric']:.6g}",
        "a custom layer's backward (or a non-differentiable op) is wrong; check the layer named here",
        layer=w["param"].rpartition(".")[0] or None, score=min(1.0, result["max_rel_error"]))]


# ---------------------------------------------------------------- 6. learning-rate range test
def lr_sweep(trainer: Trainer, x: torch.Tensor, y: torch.Tensor, lrs: np.ndarray,
             gen: torch.Generator) -> tuple[list[float], str]:
    """One range test: step t trains on the next mini-batch (``train.batch_size``, reshuffled each
    pass) at ``lr = lrs[t]``; records the mini-batch loss before the step. Stops at a NaN/Inf loss
    ("not finite") or when the running median of the last 5 losses exceeds 4x its minimum so far
    ("diverged"); else "end". Returns (losses, why it stopped). Changes the model: see _restored."""
    n, bs = len(x), min(trainer.spec.train.batch_size, len(x))
    order, pos = torch.randperm(n, generator=gen), 0
    losses, best = [], math.inf
    trainer.model.train()
    for lr in lrs:
        if pos + bs > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + bs].to(x.device)
        pos += bs
        xb, yb = x[idx], y[idx]
        if trainer.augment is not None:
            xb = trainer.augment(xb, gen)
        for group in trainer.optimizer.param_groups:
            group["lr"] = float(lr)
        loss = float(trainer.train_step(xb, yb)[0].detach())
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


def probe_lr_range(spec: RunSpec, data: Dataset, make_model: ModelFactory, *, seeds: int = 3) -> tuple[dict, list[Finding]]:
    """Learning-rate range test (Smith 2017), repeated over ``seeds`` seeds for robustness.

    Per seed s = spec.seed + i: a fresh model ``make_model(spec with seed s)``, batch order from
    seed s; the spec's optimizer, batch size, penalty, dropout, label smoothing and augmentation;
    lr rising exponentially from 1e-6 to 10 over 100 steps (:func:`lr_sweep`, :func:`read_curve`).
    Across the seeds whose loss fell, medians in log lr:

        high       = median(minimum)       the largest lr that still lowered the loss
        low        = median(low)           the lr where the loss started to fall
        suggested  = high / 10             optim.lr applied from the first step (fastai's
                                           "minimum / 10"; ``steep`` is reported, not used: it
                                           moves with the sweep's steps per decade)
                   = high / 3              onecycle: optim.lr is the PEAK, reached after a warm-up

    ``lr_too_high``: warning when optim.lr > 3 high (onecycle: 10 high); ``lr_too_low``: warning
    when optim.lr < low / 10. Score d / (1 + d), d = log10(lr / high) or log10(low / lr).
    Calibration, training to the end at a range of lr (digits MLP and CNN, MNIST-1D CNN): at a
    constant lr training failed or degraded from 3.4-5x high and high / 10 trained well; a
    one-cycle peak trained well up to 11x high with Nesterov + batch norm (failed at 22x) but
    failed at 3x with Adam (best at high / 3), so the one-cycle limit misses some Adam failures.
    Closure optimizers (lbfgs, newton: line search / exact steps) are not swept.
    """
    if seeds < 1:
        raise ValueError(f"lr range test: seeds must be >= 1, got {seeds}")
    if spec.optim.name in CLOSURE_OPTIMIZERS:
        return {"lr_range": {"suggested": None, "low": None, "high": None,
                             "skipped": f"optim.name {spec.optim.name} takes closure steps; no range test"}}, []
    lrs = np.geomspace(*SWEEP_LRS, SWEEP_STEPS)
    runs = []
    for i in range(seeds):
        sspec = _spec_constant_lr(override(spec, seed=spec.seed + i))
        model = make_model(sspec)
        with _restored(model):
            torch.manual_seed(sspec.seed)
            trainer = _trainer(model, data, sspec)
            x, y = data.x_train.to(trainer.device), data.y_train.to(trainer.device)
            losses, stopped = lr_sweep(trainer, x, y, lrs, torch.Generator().manual_seed(sspec.seed))
        runs.append({"seed": sspec.seed, "stopped": stopped, "steps": len(losses),
                     "landmarks": read_curve(lrs, losses), "lr": lrs[:len(losses)].tolist(), "loss": losses})
    read = [r["landmarks"] for r in runs if r["landmarks"] is not None]
    band = {"suggested": None, "low": None, "high": None, "steep": None}
    if read:
        high = _geomedian([r["minimum"] for r in read])
        band = {"suggested": high / 3 if spec.schedule.name == "onecycle" else high / 10,
                "low": _geomedian([r["low"] for r in read]), "high": high,
                "steep": _geomedian([r["steep"] for r in read])}
    numbers = {"lr_range": {**band, "seeds_read": len(read), "seeds": runs}}
    return numbers, _lr_findings(spec, band)


def _outside(ratio: float) -> float:
    """Score of an lr ``ratio`` times outside the band: d / (1 + d), d = log10(ratio)."""
    d = math.log10(ratio)
    return d / (1 + d)


def _lr_findings(spec: RunSpec, band: dict) -> list[Finding]:
    lr, low, high, suggested = spec.optim.lr, band["low"], band["high"], band["suggested"]
    if high is None:
        return []
    onecycle = spec.schedule.name == "onecycle"
    limit = (10 if onecycle else 3) * high
    where = (f"optim.lr {lr:.3g}{' (the one-cycle peak)' if onecycle else ''} vs the range test "
             f"({spec.optim.name}): the loss falls from lr {low:.3g} and is lowest at {high:.3g}")
    advice = f"optim.lr: {lr:g} -> {float(f'{suggested:.2g}'):g}"
    if lr > limit:
        return [Finding("lr_too_high", "warning", where + f"; {lr / high:.3g}x that (limit {limit / high:g}x)",
                        advice, score=_outside(lr / high))]
    if lr < low / 10:
        return [Finding("lr_too_low", "warning", where + f"; {low / lr:.3g}x below where it starts to fall (limit 10x)",
                        advice, score=_outside(low / lr))]
    return []


# ---------------------------------------------------------------- all of them
def run_probes(spec: RunSpec, data: Dataset, make_model: ModelFactory, *, seeds: int = 3) -> tuple[dict, list[Finding]]:
    """Run the preflight probes in order; returns (probes, findings ranked most likely first).

    ``make_model(s)`` returns a freshly initialised model for spec ``s`` (seeded by ``s.seed``).
    ``probes["seconds"]`` holds each probe's wall time.
    """
    probes, findings, seconds = {}, [], {}
    steps = (("data", lambda: probe_data(spec, data)),
             ("init_loss", lambda: probe_init_loss(spec, data, make_model)),
             ("init_gradients", lambda: probe_init_gradients(spec, data, make_model)),
             ("batch_statistics", lambda: probe_batch_statistics(spec, data, make_model)),
             ("regularization", lambda: probe_regularization(spec, data, make_model)),
             ("overfit_tiny", lambda: probe_overfit_tiny(spec, data, make_model)),
             ("gradcheck", lambda: probe_gradcheck(spec, data, make_model)),
             ("lr_range", lambda: probe_lr_range(spec, data, make_model, seeds=seeds)))
    for name, probe in steps:
        t0 = time.perf_counter()
        numbers, found = probe()
        seconds[name] = time.perf_counter() - t0
        probes.update(numbers)
        findings += found
    probes["seconds"] = seconds
    return probes, rank(findings)
