"""The learning-rate range test (Smith 2017) on a :class:`~babysitter.doctor.probes.kit.Kit`: the lr rising
exponentially from 1e-6 to 10 over 100 steps on fresh copies (``kit.seeds`` of them), the smoothed
curve's landmarks, the band, and ``lr_too_high`` / ``lr_too_low`` (one-cycle: the limit is the
peak's, 10x). See :func:`probe_lr_range`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from babysitter.doctor.findings import Finding
from babysitter.doctor.probes.kit import on_device

if TYPE_CHECKING:
    from babysitter.doctor.probes.kit import Kit

SWEEP_LRS = (1e-6, 10.0)
SWEEP_STEPS = 100
DIVERGED = 4.0          # stop when the running median of the loss exceeds 4x its minimum
WINDOW = 5              # running median / mean window (steps)
NOISE_FALLS = 3.0       # the fall must exceed 3 sigma of the losses' own batch-to-batch noise


def lr_sweep(kit: Kit, seed: int, x: torch.Tensor, y: torch.Tensor, lrs: np.ndarray) -> tuple[list[float], str]:
    """One range test on copy ``seed`` of the kit: step t trains on the next mini-batch
    (``batch_size``, reshuffled each pass, order from ``kit.seed + seed``) at ``lr = lrs[t]`` and
    records the mini-batch loss before the step. Stops at a NaN/Inf loss ("not finite") or when the
    running median of the last 5 losses exceeds 4x its minimum so far ("diverged"); else "end"."""
    model, opt, step = kit.fresh(seed=seed)
    x, y = on_device(model, x, y)
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
    """Landmarks of one smoothed curve s(lr), or None when it does not fall by 5% of s[0], or when
    its minimum is not NOISE_FALLS sigma below the median of its first 10 losses (sigma = 1.4826
    median |step-to-step change| / sqrt 2: the losses' own noise, robust to the steep part and to a
    diverging end). A curve that never learns (a noisy regression whose replayed inputs carry no
    signal) still has a smoothed minimum at some random lr: 1000 simulated flat curves reached at
    most 2.85 sigma; the learning curves of the clinic fell by 3.3-99 sigma (session 12).

    minimum  the lr where s is lowest (beyond it the loss rises: the edge of stability)
    steep    the lr of steepest descent, min ds/dlog10(lr), at or before the minimum
    low      the first lr where s has fallen by 10% of s[0] - min s (learning has started)
    """
    if len(losses) < 2 * WINDOW:
        return None
    s = smooth(losses)
    i_min = int(np.argmin(s))
    drop = s[0] - s[i_min]
    a = np.asarray(losses, dtype=float)
    noise = 1.4826 * float(np.median(np.abs(np.diff(a)))) / math.sqrt(2)
    if i_min == 0 or drop < 0.05 * abs(s[0]) or np.median(a[:2 * WINDOW]) - s[i_min] < NOISE_FALLS * noise:
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
                        facts={"lr": lr, "suggested": band["suggested"]}, score=_outside(lr / high))]
    if lr < low / 10:
        return [Finding("lr_too_low", "warning", where + f"; {low / lr:.3g}x below where it starts to fall (limit 10x)",
                        facts={"lr": lr, "suggested": band["suggested"]}, score=_outside(low / lr))]
    return []
