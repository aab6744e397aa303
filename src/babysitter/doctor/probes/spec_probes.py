"""Preflight probes on a spec (CS231n, Neural Networks 3: "Babysitting the learning process"):
experiments run before training, each returning ``(numbers, findings)``; :func:`run_probes` runs
them in order. The experiments that any run has are written once, one per module of :mod:`babysitter.doctor.probes`;
here a spec makes their kit (:func:`~babysitter.doctor.probes.spec_kit.spec_kit`: a SpecKit, whose copies are built with
``make_model`` and trained with the Trainer's own step, the remedies name spec keys: doctor/remedies.py), and adds
what only a spec has:

data            (spec level) train inputs over all entries: mean, std, min, max, non-finite count,
                per-feature spread; class counts and imbalance = max count / min count (over present
                classes). ``data_not_normalized``: :func:`input_scale.normalization_findings`.
init_loss       kit probe on a SpecKit of the spec with regularisation off: plain cross entropy
                (no label smoothing, no penalty, dropout off) of the freshly initialised model on up
                to 1024 training examples (a seeded draw), train mode, no_grad; margins in
                :func:`init_loss.init_loss_findings`.
init_gradients  kit probe on the same kind of kit, one batch of ``train.batch_size`` (draw seed + 1).
batch_statistics (spec level) batch norm over batches smaller than 8: the loss's spread at init.
regularization  (spec level) reg_loss_delta = (loss + penalty) - loss = penalty(W) at init, computed
                with the trainer's own Penalty over the trainer's penalized weights (no float32
                cancellation). ``reg_does_not_raise_loss``: when regularize.l1 or l2 > 0 and delta <=
                1e-7 * loss (below float32 resolution of the loss, so adding it changes nothing):
                warning when no weight is penalized (weights not in Linear/Conv layers), info when the
                penalized weights are all ~zero at init.
overfit_tiny    kit probe: 20 training examples (a seeded random draw, so class-sorted data still gives
                a mix), regularization off (l1 = l2 = weight_decay = dropout = stochastic_depth = 0,
                label_smoothing 0, no augmentation, no max-norm), the spec's optimizer at the spec's lr
                held constant, full batch, up to 300 steps.
gradcheck       (spec level) :func:`babysitter.gradcheck.gradient_check` (20 sampled entries, float64,
                eval mode) of plain cross entropy on 8 training examples. ``gradient_check_failed``:
                error when the max relative error > 1e-2 (the notes' "probably wrong").
lr_range        kit probe on a SpecKit of the spec as it trains (penalty, dropout, label smoothing,
                augmentation, clipping kept; the schedule held constant) over the whole training set,
                ``seeds`` copies (seeds spec.seed + i); a one-cycle lr is judged as the peak.

Every probe builds its models with ``make_model(spec)`` and trains copies of them, with torch's RNG
restored afterwards, so a ``make_model`` that returns the same module every time is safe too.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.data import Dataset
from babysitter.doctor.findings import Finding, json_safe, rank
from babysitter.doctor.probes import init_gradients, init_loss, lr_range, overfit_tiny
from babysitter.doctor.probes.input_scale import normalization_findings
from babysitter.doctor.probes.kit import kept_rng
from babysitter.doctor.probes.spec_kit import (ModelFactory, constant_lr, device_of, draw, restored, spec_kit,
                                               without_regularization)
from babysitter.doctor.thresholds import BN_MIN_BATCH, GRADCHECK_WRONG, IMBALANCE, TINY_EXAMPLES
from babysitter.gradcheck import gradient_check
from babysitter.spec import RunSpec
from babysitter.train.trainer import Trainer

INIT_EXAMPLES = 1024
GRADCHECK_EXAMPLES, GRADCHECK_SAMPLES = 8, 20


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
    return {"data": numbers}, normalization_findings(mean, std) + _balance_findings(numbers)


def _balance_findings(numbers: dict) -> list[Finding]:
    """``class_imbalance`` (info): the largest class outnumbers the smallest by more than 3:1."""
    ratio, counts = numbers["imbalance"], numbers["class_counts"]
    if ratio <= IMBALANCE:
        return []
    return [Finding("class_imbalance", "info",
                    f"training classes range from {min(c for c in counts if c)} to {max(counts)} examples "
                    f"({ratio:.1f}:1 > {IMBALANCE:g}:1)", facts={"imbalance": ratio}, score=min(1.0, ratio / 20))]


# ---------------------------------------------------------------- 2. init loss, gradients at init (kit probes)
def probe_init_loss(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """:func:`init_loss.probe_init_loss` on up to 1024 drawn training examples, regularisation off."""
    kit = spec_kit(spec, data, make_model, without_regularization(spec), draw(data, INIT_EXAMPLES, spec.seed))
    with kept_rng():
        return init_loss.probe_init_loss(kit)


def probe_init_gradients(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """:func:`init_gradients.probe_init_gradients` on a batch of ``train.batch_size``, regularisation off."""
    idx = draw(data, spec.train.batch_size, spec.seed + 1)
    kit = spec_kit(spec, data, make_model, without_regularization(spec), idx)
    with kept_rng():
        return init_gradients.probe_init_gradients(kit)


# ---------------------------------------------------------------- 2c. batch norm on tiny batches
def probe_batch_statistics(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """Batch norm estimates each feature's mean and variance from the mini-batch; with a handful
    of examples those estimates are noise (with 2, every feature is normalised to +-1), and the
    training loss jumps from batch to batch. Measured: the spread of the loss over 20 batches at init."""
    model = make_model(spec)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    bs = spec.train.batch_size
    if not has_bn or bs >= BN_MIN_BATCH:
        return {}, []
    device = device_of(model)
    g = torch.Generator().manual_seed(spec.seed)
    losses = []
    with restored(model), torch.no_grad():
        model.train()
        for _ in range(20):
            idx = torch.randint(len(data.x_train), (max(bs, 2),), generator=g)
            losses.append(float(F.cross_entropy(model(data.x_train[idx].to(device)), data.y_train[idx].to(device))))
    spread = float(np.std(losses))
    return {"bn_batch_loss_std": spread}, [Finding(
        "noisy_loss", "error" if bs <= 4 else "warning",
        f"batch norm over batches of {bs}: its statistics come from {bs} examples; the loss at init "
        f"varies by std {spread:.3g} across 20 batches",
        facts={"batch_size": bs, "batch_norm": True, "at_init": True, "loss_std": spread}, score=0.8)]


# ---------------------------------------------------------------- 3. regularization
def _init_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(plain cross entropy, std of the scores) of ``model`` in train mode, no gradients."""
    with restored(model), torch.no_grad():
        model.train()
        logits = model(x)
        return float(F.cross_entropy(logits, y)), float(logits.float().std())


def probe_regularization(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """``reg_loss_delta`` = loss with the spec's penalty minus without, at init, as the trainer adds
    it: ``penalty(W) = l1 sum|W| + l2 sum W^2`` over the trainer's penalized weights."""
    reg = spec.regularize
    if not (reg.l1 > 0 or reg.l2 > 0):
        return {"reg_loss_delta": 0.0}, []
    model = make_model(spec)
    with restored(model):
        trainer = Trainer(model, data, constant_lr(spec), progress=False)
        with torch.no_grad():
            delta = float(trainer.penalty([w.double() for w in trainer.weights]))
        idx = draw(data, INIT_EXAMPLES, spec.seed)
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
            facts={"penalized": 0, "delta": delta}, score=0.9)]
    return numbers, [Finding(
        "reg_does_not_raise_loss", "info",
        f"{strengths}; penalty at init {delta:.3g} (loss {loss:.4f}) over {penalized} penalized weight entries",
        facts={"penalized": penalized, "delta": delta}, score=0.3)]


# ---------------------------------------------------------------- 4. overfit a tiny subset (kit probe)
def probe_overfit_tiny(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """:func:`overfit_tiny.probe_overfit_tiny` on 20 drawn examples, regularisation off, the spec's
    optimizer at its lr."""
    idx = draw(data, TINY_EXAMPLES, spec.seed)
    kit = spec_kit(spec, data, make_model, without_regularization(spec), idx)
    with kept_rng():
        return overfit_tiny.probe_overfit_tiny(kit)


# ---------------------------------------------------------------- 5. gradient check
def probe_gradcheck(spec: RunSpec, data: Dataset, make_model: ModelFactory) -> tuple[dict, list[Finding]]:
    """Analytic vs numerical gradient of plain cross entropy on 8 training examples."""
    model = make_model(spec)
    idx = draw(data, GRADCHECK_EXAMPLES, spec.seed)
    device = device_of(model)
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
        facts={"max_rel_error": result["max_rel_error"]}, layer=w["param"].rpartition(".")[0] or None, score=min(1.0, result["max_rel_error"]))]


# ---------------------------------------------------------------- 6. learning-rate range test (kit probe)
def probe_lr_range(spec: RunSpec, data: Dataset, make_model: ModelFactory, *, seeds: int = 3) -> tuple[dict, list[Finding]]:
    """:func:`lr_range.probe_lr_range` over ``seeds`` copies (seeds spec.seed + i: init and batch order),
    on the whole training set, trained as the spec trains (penalty, dropout, label smoothing,
    augmentation, clipping) with its schedule held constant."""
    if seeds < 1:
        raise ValueError(f"lr range test: seeds must be >= 1, got {seeds}")
    kit = spec_kit(spec, data, make_model, constant_lr(spec), seeds=seeds)
    with kept_rng():
        return lr_range.probe_lr_range(kit)


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

