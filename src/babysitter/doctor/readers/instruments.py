"""The instruments' judges: their summaries -> findings with facts (one place for both our Trainer's
runs and watched scripts); :func:`findings` reads them all. The instruments themselves
(:mod:`babysitter.doctor.instruments`) only measure."""

from __future__ import annotations

import math
from statistics import median

from babysitter.doctor.findings import Finding, rank

# Thresholds, chosen from the lecture's rules of thumb and calibrated on real short runs (digits,
# mnist1d, spirals; see the table in ``findings``). 17 healthy runs measured: update-ratio run median
# 7e-4 .. 1.4e-2, largest single-step median 0.047 (Adam 1e-2, linear); median first/last grad
# norm 0.14 .. 2.3; largest total grad norm 11; dead ReLU <= 0.02; tanh saturation <= 0.005;
# duplicate units 0.
from babysitter.doctor.thresholds import (  # noqa: F401  (every threshold once: doctor/thresholds.py)
    COLLAPSE_RATIO, DEAD_INFO, DEAD_WARN, EXPLODING_NORM, EXPLODING_RATIO, SATURATED_INFO, SATURATED_WARN,
    SYMMETRIC_ERROR, SYMMETRIC_WARN, UPDATE_HIGH_MEDIAN, UPDATE_HIGH_PEAK, FIRST_STEP_PEAK, UPDATE_LOW_INFO,
    UPDATE_LOW_WARN,
    VANISHING_RATIO)


def _log_score(x: float, threshold: float, decades: float = 2.0) -> float:
    """0.5 at the threshold, +0.5 per ``decades`` decades beyond it (clamped to [0, 1])."""
    return min(1.0, max(0.0, 0.5 + abs(math.log10(max(x, 1e-300) / threshold)) / (2 * decades)))


def _lr(spec) -> float:
    return spec.optim.lr


def update_ratio_findings(s: dict, spec, vanishing: bool = False) -> list[Finding]:
    """lr_too_low / lr_too_high from the update/weight ratio (lecture target ~1e-3).

    ``vanishing``: the gradients vanish, so a tiny ratio is their symptom, not the lr's (info)."""
    out = []
    med, steps = s.get("overall_median"), [v for v in s.get("step_median", []) if v is not None]
    if med is None or not steps:
        return out
    # the first due step starts from the init, where small weights make any update large relative to
    # them (a makemore MLP at SGD 0.1: 0.27 at step 1, <= 0.08 after): when it alone is above the
    # limit and below FIRST_STEP_PEAK, the peak is read from the later steps (digits MLP, Adam at lr
    # 0.5: ~3 at step 1, the weights more than doubled: still read)
    later = steps[1:]
    first_only = later and max(later) <= UPDATE_HIGH_PEAK < steps[0] <= FIRST_STEP_PEAK
    peak = max(later) if first_only else max(steps)
    lr = _lr(spec)
    if peak > UPDATE_HIGH_PEAK or med > UPDATE_HIGH_MEDIAN:
        factor = 100 if max(peak, med * UPDATE_HIGH_PEAK / UPDATE_HIGH_MEDIAN) > 10 else 10
        # the penalty alone shrinks W by lr * (2 l2 + wd) per step: then the ratio is the regulariser's
        decay = lr * (2 * spec.regularize.l2 + spec.optim.weight_decay)
        by_reg = decay >= 0.5 * max(peak, med)
        note = (f"; the L2 penalty alone shrinks W by lr*(2*l2 + weight_decay) = {decay:.2g} per step "
                "(see reg_too_strong)") if by_reg else ""
        out.append(Finding(
            "lr_too_high", "info" if by_reg else "warning",
            f"update/weight ratio ||dW||/||W||: run median {med:.2g}, largest step median {peak:.2g} "
            f"(lecture target ~1e-3; > {UPDATE_HIGH_PEAK:g} in one step or > {UPDATE_HIGH_MEDIAN:g} overall is too high){note}",
            facts={"lr": lr, "factor": factor, "update_ratio": med, "peak": peak,
                   **({"causes": ["reg_too_strong"]} if by_reg else {})},
            score=_log_score(max(peak, med * 3), UPDATE_HIGH_PEAK) * (0.5 if by_reg else 1.0)))
        if by_reg:  # the cause the evidence cites is a finding of its own, ranked above its symptoms
            out.append(Finding(
                "reg_too_strong", "warning",
                f"the L2 penalty alone shrinks W by lr*(2*l2 + weight_decay) = {decay:.2g} per step, "
                f">= half the measured update/weight ratio (largest step median {peak:.2g}, run median {med:.2g})",
                facts={"decay": decay, "update_ratio": med}, score=min(1.0, decay / max(peak, med, 1e-12))))
    elif med < UPDATE_LOW_INFO:
        warn = med < UPDATE_LOW_WARN and not vanishing
        factor = 100 if med < UPDATE_LOW_WARN / 10 else 10
        note = " (the gradients vanish: see vanishing_gradients)" if vanishing else ""
        out.append(Finding(
            "lr_too_low", "warning" if warn else "info",
            f"update/weight ratio ||dW||/||W||: run median {med:.2g} (lecture target ~1e-3){note}",
            facts={"lr": lr, "factor": factor, "update_ratio": med, **({"causes": ["vanishing_gradients"]} if vanishing else {})},
            score=_log_score(med, UPDATE_LOW_INFO) * (1 if warn else 0.5)))
    return out


def grad_norm_findings(s: dict, activations: dict | None = None) -> list[Finding]:
    """vanishing_gradients / exploding_gradients from per-layer gradient norms (and the
    activations' std collapsing with depth, the lecture's small-init picture)."""
    out = []
    ratio, layers = s.get("first_last_median"), s.get("layers", [])
    collapse = _activation_collapse(activations) if activations else None
    if (ratio is not None and ratio < VANISHING_RATIO) or collapse is not None:
        parts = []
        if ratio is not None and ratio < VANISHING_RATIO:
            parts.append(f"first layer ({layers[0]}) gradient norm / last ({layers[-1]}): median {ratio:.2g} (< {VANISHING_RATIO:g})")
        if collapse is not None:
            parts.append(collapse[0])
        score = max(_log_score(ratio, VANISHING_RATIO, 3) if ratio is not None and ratio < VANISHING_RATIO else 0,
                     collapse[1] if collapse else 0)
        out.append(Finding("vanishing_gradients", "warning", "; ".join(parts),
                           facts={"first_last": ratio, "collapse": collapse is not None},
                           layer=layers[0] if layers else None, score=score))
    non_finite, peak = s.get("non_finite", 0), s.get("max_total")
    big_ratio = ratio is not None and ratio > EXPLODING_RATIO
    big_norm = peak is not None and peak > EXPLODING_NORM
    if non_finite:
        out.append(Finding("exploding_gradients", "error", f"{non_finite} non-finite layer gradient norm(s) recorded",
                           facts={"non_finite": True}, score=1.0))
    elif big_ratio or big_norm:
        ev = []
        if big_ratio:
            ev.append(f"first/last layer gradient norm median {ratio:.3g} (> {EXPLODING_RATIO:g})")
        if big_norm:
            at = s["steps"][s["total"].index(peak)] if peak in s.get("total", []) else "?"
            ev.append(f"total gradient norm {peak:.3g} at step {at} (> {EXPLODING_NORM:g})")
        score = max(_log_score(ratio, EXPLODING_RATIO) if big_ratio else 0, _log_score(peak, EXPLODING_NORM) if big_norm else 0)
        out.append(Finding("exploding_gradients", "warning", "; ".join(ev),
                           facts={"first_last": ratio, "max_total": peak}, score=score))
    return out


def _activation_collapse(a: dict) -> tuple[str, float] | None:
    """(evidence, score) when some layer's activation std fell below COLLAPSE_RATIO x the first's."""
    std = a.get("last", {}).get("std", {})
    names = [n for n in a.get("layers", []) if std.get(n) is not None]
    if len(names) < 2 or not std[names[0]]:
        return None
    worst = min(names[1:], key=lambda n: std[n])
    r = std[worst] / std[names[0]]
    if r >= COLLAPSE_RATIO:
        return None
    return (f"activations collapse with depth: std {names[0]} {std[names[0]]:.2g} -> {worst} {std[worst]:.2g}",
            _log_score(r, COLLAPSE_RATIO, 3))


def activation_findings(s: dict, spec) -> list[Finding]:
    """dead_relu (graded) and saturated_units from the activation statistics."""
    out = []
    kinds, last = s.get("kinds", {}), s.get("last", {})
    dead = {n: v for n, v in last.get("dead", {}).items() if kinds.get(n) == "relu" and v is not None}
    if dead:
        worst = max(dead, key=dead.get)
        frac = dead[worst]
        if frac >= DEAD_INFO:
            listed = ", ".join(f"{n} {v:.0%}" for n, v in dead.items() if v >= DEAD_INFO)
            lr = _lr(spec)
            out.append(Finding(
                "dead_relu", "warning" if frac >= DEAD_WARN else "info",
                f"ReLU units never active over the last {s.get('window')} due batches: {listed}",
                facts={"fraction": frac, "lr": lr}, layer=worst, score=frac))
    sat = {}
    for n in s.get("layers", []):
        if kinds.get(n) in ("tanh", "sigmoid"):
            vals = [v for v in s.get("saturated", {}).get(n, []) if v is not None]
            if vals:
                sat[n] = median(vals[len(vals) // 2:])
    if sat:
        worst = max(sat, key=sat.get)
        frac = sat[worst]
        if frac >= SATURATED_INFO:
            listed = ", ".join(f"{n} {v:.0%}" for n, v in sat.items() if v >= SATURATED_INFO)
            out.append(Finding(
                "saturated_units", "warning" if frac >= SATURATED_WARN else "info",
                f"saturated outputs (tanh |a| > 0.99, sigmoid a < 0.01 or > 0.99), median over the last half: {listed}",
                facts={"fraction": frac}, layer=worst, score=frac))
    return out


def symmetric_findings(s: dict) -> list[Finding]:
    """symmetric_weights: units with identical incoming weights (zero init) never differentiate."""
    last = {n: v for n, v in s.get("last", {}).items() if v is not None}
    if not last:
        return []
    worst = max(last, key=last.get)
    frac = last[worst]
    if frac < SYMMETRIC_WARN:
        return []
    listed = ", ".join(f"{n} {v:.0%}" for n, v in last.items() if v >= SYMMETRIC_WARN)
    return [Finding("symmetric_weights", "error" if frac >= SYMMETRIC_ERROR else "warning",
                    f"units whose incoming weights equal another unit's (rel. 1e-6): {listed}",
                    facts={"fraction": frac}, layer=worst, score=frac)]


def non_finite_findings(s: dict, spec) -> list[Finding]:
    stopped = s.get("stopped")
    if not stopped:
        return []
    last = (f"; last finite loss {stopped['last_finite_loss']:.4g} at step {stopped['last_finite_step']}"
            if stopped.get("last_finite_step") is not None else "")
    lr = _lr(spec)
    return [Finding("loss_not_finite", "error", f"loss {stopped['loss']} at step {stopped['step']}{last}; run stopped",
                    facts={"non_finite": True, "step": stopped["step"], "lr": lr}, score=1.0)]


def findings(summaries: dict[str, dict], spec) -> list[Finding]:
    """Findings from the instruments' summaries (``{class name: summary()}``, see :func:`summaries`).

    ===================  ==========================================================  ========
    finding              evidence and threshold                                      severity
    ===================  ==========================================================  ========
    lr_too_high          update ratio: a due step's median over layers > 0.1, or      warning
                         the run median > 0.03 (healthy: <= 0.047 / 0.014); info
                         when lr*(2*l2 + wd) explains half of it (the penalty's step)
    lr_too_low           update ratio run median < 1e-5 (info below 1e-4; info only   warning
                         when the gradients vanish)           (healthy: >= 7e-4)
    vanishing_gradients  median ||g_first|| / ||g_last|| < 1e-3 (healthy: >= 0.14),   warning
                         or an activation std < 1e-3 x the first layer's
    exploding_gradients  a non-finite layer gradient norm                             error
                         median first/last ratio > 100, or a total gradient norm     warning
                         > 1000 (healthy: first/last <= 2.3, total <= 11)
    dead_relu            worst ReLU layer: fraction of units never positive over the  warning
                         last 4 due batches >= 0.4 (info from 0.1) (healthy: <= 0.02)
    saturated_units      worst tanh/sigmoid layer: saturated fraction (median, last   warning
                         half) >= 0.5 (info from 0.2)         (healthy: <= 0.005)
    symmetric_weights    worst layer: units with a duplicate weight vector >= 0.5     error
                         (warning from 0.1)                   (healthy: 0)
    loss_not_finite      NonFinite stopped the run                                    error
    ===================  ==========================================================  ========

    ``score`` is the fraction for graded findings and grows with decades beyond the threshold
    for ratio findings. The loss curve's findings are :func:`babysitter.doctor.readers.curves.classify`'s.
    """
    out: list[Finding] = []
    g, a = summaries.get("GradNorms"), summaries.get("Activations")
    vanishing = []
    if g or a:
        vanishing = grad_norm_findings(g or {}, a)
        out += vanishing
    if "UpdateRatio" in summaries:
        out += update_ratio_findings(summaries["UpdateRatio"], spec,
                                     vanishing=any(f.id == "vanishing_gradients" for f in vanishing))
    if a:
        dead = activation_findings(a, spec)
        if any(f.id == "reg_too_strong" for f in out):  # the penalty shrinks the weights: that kills the units
            for f in dead:
                if f.id == "dead_relu":
                    f.adjust(0.0, "the penalty shrinks the weights toward 0 (see reg_too_strong)", cause="reg_too_strong")
        out += dead
    if "SymmetricWeights" in summaries:
        out += symmetric_findings(summaries["SymmetricWeights"])
    if "NonFinite" in summaries:
        out += non_finite_findings(summaries["NonFinite"], spec)
    return rank(out)
