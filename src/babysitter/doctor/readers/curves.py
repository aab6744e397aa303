"""Loss-curve shapes (CS231n "Babysitting the learning process": the loss and the train/val
accuracy pictures), read from the :class:`~babysitter.doctor.instruments.LossTrace` windows and
the per-epoch rows of metrics.jsonl.

``classify(trace, rows, spec, summaries=None) -> list[Finding]``

``trace``: LossTrace's summary (``steps``, ``mean``, ``noise`` (detrended within-window std),
``first_loss``) or a list of ``(step, mean, std)`` windows. ``rows``: per-epoch dicts with
``train_loss, train_acc, val_loss, val_acc``. ``summaries``: the other instruments' summaries
(``RegShare`` for reg_too_strong; ``UpdateRatio``, ``GradNorms``, ``SymmetricWeights`` to say
whether a flat curve is the lr's fault).

Notation: ``m_i`` the window means (n windows), ``start = max(first_loss, m_0)``,
``base = min(first_loss, m_0)``, ``lo = min m_i``, ``tail = median of the last quarter``.

==================  ===============================================================  ========
finding             shape and threshold                                              severity
==================  ===============================================================  ========
loss_not_finite     a non-finite window mean or epoch train loss (facts: ``lr``;      error
                    ``at_init`` when the first loss was, else ``step``; causes.py
                    names the lr as its cause when the lr is too high)
lr_too_high         explodes: max m_i > 2 x base (healthy: max m_i <= 1.05 base;     warning
                    SGD lr 5: 2.7, Adam lr 0.5: 3.9)
lr_too_high         rises again: tail > 1.25 x lo and tail - lo > 0.1 (start - lo),  warning
                    n >= 4 (healthy: tail <= 1.04 lo; SGD lr 5: 1.6); info when >= 3
                    epoch train losses end within 5 % of their minimum
lr_too_low          flat: (start - lo) / start < 5 %, n >= 3 (healthy: 38 - 85 %;   warning
                    SGD lr 1e-6: 1 - 2 %); info when the weights do move (update ratio >= 1e-4) or the
                    init is at fault (symmetric weights, vanishing gradients)
bad_init_plateau    the first k >= max(3, 0.15 n) windows stay within 10 % of start,  warning
                    then the loss falls >= 30 % below start (5-layer ReLU MLP, init
                    small, Adam 3e-4: 5 of 25 windows, then 33 % below)
noisy_loss          median over windows 1.. of noise_i / m_i > 0.1 and               warning
                    median noise_i / (start - lo) > 0.2 (healthy: up to 0.15 but
                    then <= 0.08 of the drop; batch size 2 with batch norm: 0.19
                    and 0.43)
overfitting         last epoch train_acc - val_acc > 0.1 and (train_acc >= 0.99 or val loss > 1.1 x its    warning
                    minimum (an earlier epoch); a gap > 0.25 alone; info for a gap
                    > 0.1 with val loss past its minimum but not rising; nothing
                    while val loss still improves (healthy gaps: <= 0.04)
overfitting         no accuracies: val loss ends > 1.3 x its minimum (an earlier epoch of >= 3)   warning
                    while the train loss fell below its value there and below half the val loss
underfitting        the loss has plateaued (last quarter of >= 8 windows, or of >= 4  warning
                    epochs, within 2 % of the quarter before), last train_acc < 0.8,
                    train_acc - val_acc < 0.05, not flat and not exploding; info
                    when the instruments show a broken network (symmetric, vanishing,
                    saturated >= 0.5 or dead >= 0.4)
reg_too_strong      underfitting, or a flat loss, and the penalty's share of the     warning
                    objective (RegShare) reached > 0.5 (healthy default recipe: <= 0.33;
                    SGD weight_decay 0.5: 0.87, then the weights are ~0 and the loss flat)
==================  ===============================================================  ========
"""

from __future__ import annotations

import math
from statistics import median

from babysitter.doctor.findings import Finding, rank

from babysitter.doctor.thresholds import (  # noqa: F401  (every threshold once: doctor/thresholds.py)
    EPOCH_RISE, EPOCHS_TO_OVERRULE, EXPLODE_FACTOR, FLAT_DROP, GAP_ALONE, GAP_WARN, MEMORIZED, MOVING_RATIO, NOISE_CV,
    NOISE_PROGRESS, PLATEAU_BAND, PLATEAU_CHANGE, PLATEAU_DROP, PLATEAU_MIN_SHARE, PLATEAU_MIN_WINDOWS, REG_SHARE,
    RISE_FACTOR, RISE_SHARE, UNDERFIT_ACC, UNDERFIT_GAP, VAL_EPOCHS, VAL_RISE, VAL_RISE_ALONE)
from babysitter.doctor.thresholds import DEAD_WARN, SATURATED_WARN, SYMMETRIC_ERROR, VANISHING_RATIO


def _windows(trace) -> tuple[list[float | None], list[float | None], float | None]:
    """(means, noises, first_loss) from a LossTrace summary or a list of (step, mean, std)."""
    if isinstance(trace, dict):
        means = list(trace.get("mean", []))
        noise = list(trace.get("noise") or trace.get("std") or [None] * len(means))
        return means, noise, trace.get("first_loss")
    rows = [tuple(w) for w in trace]
    return [w[1] for w in rows], [w[2] if len(w) > 2 else None for w in rows], None


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def _lr(spec) -> float:
    return spec.optim.lr


def classify(trace, rows: list[dict], spec, summaries: dict | None = None) -> list[Finding]:
    """The loss curve's findings (thresholds in the module docstring), most likely first."""
    summaries = summaries or {}
    means, noise, first = _windows(trace or [])
    out: list[Finding] = []
    bad = [i for i, m in enumerate(means) if not _finite(m)]
    bad_rows = [r["epoch"] for r in rows if not _finite(r.get("train_loss"))]
    if bad or bad_rows:
        out.append(_non_finite(trace, bad, bad_rows, rows, len(means), spec))
        return rank(out + _epoch_findings(rows, spec, summaries, shape="exploded"))
    shape = None
    if len(means) >= 2:
        shape, found = _shape(means, noise, first, spec, summaries)
        if shape == "rises":
            found = [_epochs_overrule(f, rows) for f in found]
        out += found
    return rank(out + _epoch_findings(rows, spec, summaries, shape, means))


def _non_finite(trace, bad: list[int], bad_rows: list[int], rows: list[dict], n: int, spec) -> Finding:
    """``loss_not_finite`` from the curve: the first non-finite window (``bad``: indices) or epoch
    (``bad_rows``: epoch numbers). ``at_init`` when the very first loss was non-finite (a LossTrace
    summary's ``first_loss`` is then null), else the ``step`` where it was seen. Whether the lr is to
    blame is causes.py's rule, read from the other findings' facts."""
    facts = {"non_finite": True, "lr": _lr(spec)}
    steps = trace.get("steps") if isinstance(trace, dict) else [w[0] for w in trace]
    if isinstance(trace, dict) and "first_loss" in trace and trace["first_loss"] is None:
        facts["at_init"] = True
    elif bad and steps and len(steps) > bad[0]:
        facts["step"] = steps[bad[0]]
    elif bad_rows:
        facts["step"] = next((r.get("step") for r in rows if r["epoch"] == bad_rows[0]), None)
    where = f"window {bad[0] + 1} of {n}" if bad else f"epoch {bad_rows[0]}"
    return Finding("loss_not_finite", "error", f"the training loss became non-finite ({where})", facts=facts,
                   score=1.0)


def _shape(means, noise, first, spec, summaries) -> tuple[str | None, list[Finding]]:
    """Findings from the window means: explodes, rises, flat, plateau-then-drop, noisy."""
    out, lr = [], _lr(spec)
    n = len(means)
    m0 = means[0]
    start = max(first, m0) if _finite(first) else m0
    base = min(first, m0) if _finite(first) else m0
    lo, hi = min(means), max(means)
    tail = median(means[-max(1, n // 4):])
    if base > 0 and hi > EXPLODE_FACTOR * base:
        out.append(Finding("lr_too_high", "warning",
                           f"the loss explodes: window mean {hi:.3g} = {hi / base:.1f}x the initial {base:.3g} "
                           f"(> {EXPLODE_FACTOR:g}x)",
                           facts={"exploded": True, "ratio": hi / base, "lr": lr},
                           score=min(1.0, 0.5 + math.log10(hi / base / EXPLODE_FACTOR))))
        return "exploded", out
    if n >= 4 and lo > 0 and tail > RISE_FACTOR * lo and tail - lo > RISE_SHARE * (start - lo):
        out.append(Finding("lr_too_high", "warning",
                           f"the loss rises again: last-quarter median {tail:.3g} = {tail / lo:.2f}x its minimum {lo:.3g}",
                           facts={"rises": True, "ratio": tail / lo, "lr": lr}, score=min(1.0, 0.4 + (tail / lo - RISE_FACTOR))))
        return "rises", out
    drop = (start - lo) / start if start > 0 else 0.0
    if n >= 3 and drop < FLAT_DROP:
        out.append(_flat(drop, start, lo, n, spec, summaries))
        return "flat", out
    k = next((i for i, m in enumerate(means) if m < start * (1 - PLATEAU_BAND)), n)
    if k >= max(PLATEAU_MIN_WINDOWS, PLATEAU_MIN_SHARE * n) and k < n and lo < start * (1 - PLATEAU_DROP):
        out.append(Finding("bad_init_plateau", "warning",
                           f"the loss stays within {PLATEAU_BAND:.0%} of {start:.3g} for the first {k} of {n} windows, "
                           f"then falls to {lo:.3g} ({drop:.0%} below)",
                           facts={"plateau_windows": k, "windows": n}, score=min(1.0, k / n + 0.3)))
        return "plateau", out
    noisy = _noisy(means, noise, start, lo)
    if noisy is not None:
        cv, rel = noisy
        bs = spec.train.batch_size
        out.append(Finding("noisy_loss", "warning",
                           f"within-window loss noise (detrended std): median {cv:.2f} of the loss and {rel:.2f} of "
                           f"its total drop (> {NOISE_CV:g} and > {NOISE_PROGRESS:g})",
                           facts={"batch_size": bs, "noise_cv": cv, "noise_share": rel},
                           score=min(1.0, 0.5 * cv / NOISE_CV * min(1.0, rel / NOISE_PROGRESS))))
        return "noisy", out
    return None, out


def _epochs_overrule(f: Finding, rows: list[dict]) -> Finding:
    """A window rise the epochs do not show is noise: when >= EPOCHS_TO_OVERRULE epoch train losses
    (per-example means) end within 5 % of their minimum, a rise of a few windows (losses near 0,
    a short last batch) is not the lr's doing: info."""
    tl = [r["train_loss"] for r in rows if _finite(r.get("train_loss"))]
    if f.id == "lr_too_high" and len(tl) >= EPOCHS_TO_OVERRULE and tl[-1] <= EPOCH_RISE * min(tl):
        f.adjust(-0.3, f"but the epoch train loss keeps falling ({tl[0]:.3g} -> {tl[-1]:.3g}, its minimum)",
                 severity="info")
    return f


def _pathologies(summaries: dict) -> dict[str, str]:
    """{finding id: words} of what the instruments say is broken in the network itself (then a flat
    or underfitting curve is its symptom): symmetric units, vanishing gradients, saturated or dead units."""
    out = {}
    sym = [v for v in (summaries.get("SymmetricWeights") or {}).get("last", {}).values() if _finite(v)]
    if sym and max(sym) >= SYMMETRIC_ERROR:
        out["symmetric_weights"] = "the units are symmetric (see symmetric_weights)"
    fl = (summaries.get("GradNorms") or {}).get("first_last_median")
    if _finite(fl) and fl < VANISHING_RATIO:
        out["vanishing_gradients"] = "the gradients vanish (see vanishing_gradients)"
    a = summaries.get("Activations") or {}
    kinds, last = a.get("kinds", {}), a.get("last", {})
    sat = [v for n, v in last.get("saturated", {}).items() if kinds.get(n) in ("tanh", "sigmoid") and _finite(v)]
    if sat and max(sat) >= SATURATED_WARN:
        out["saturated_units"] = "the units are saturated (see saturated_units)"
    dead = [v for n, v in last.get("dead", {}).items() if kinds.get(n) == "relu" and _finite(v)]
    if dead and max(dead) >= DEAD_WARN:
        out["dead_relu"] = "the ReLUs are dead (see dead_relu)"
    return out


def _flat(drop, start, lo, n, spec, summaries) -> Finding:
    lr = _lr(spec)
    ur = (summaries.get("UpdateRatio") or {}).get("overall_median")
    broken = _pathologies(summaries)
    causes = list(broken.values())
    if ur is not None and ur >= MOVING_RATIO:
        causes.insert(0, f"the weights do move (update ratio {ur:.2g})")
    note = ("; not the lr alone: " + ", ".join(causes) + " — suspect the init or a bug") if causes else \
        "; if the update ratio is not small, suspect the init or a bug"
    return Finding("lr_too_low", "info" if causes else "warning",
                   f"the loss is flat: {start:.3g} -> min {lo:.3g} ({drop:.1%} drop over {n} windows, < {FLAT_DROP:.0%}){note}",
                   facts={"flat": True, "lr": lr, "moving": ur is not None and ur >= MOVING_RATIO,
                          "causes": list(broken)},
                   score=0.3 if causes else 0.5 + 0.5 * (1 - drop / FLAT_DROP))


def _noisy(means, noise, start, lo) -> tuple[float, float] | None:
    pairs = [(m, s) for m, s in zip(means[1:], noise[1:]) if _finite(m) and _finite(s) and m > 0]
    if len(pairs) < 2 or start - lo <= 0:
        return None
    cv = median(s / m for m, s in pairs)
    rel = median(s for _, s in pairs) / (start - lo)
    return (cv, rel) if cv > NOISE_CV and rel > NOISE_PROGRESS else None


def _plateaued(means: list, rows: list[dict]) -> bool | None:
    """Has the training loss stopped falling? None when there is too little to tell."""
    if len(means) >= 8:
        q = len(means) // 4
        last, before = sum(means[-q:]) / q, sum(means[-2 * q:-q]) / q
    elif len(rows) >= 4:
        q = len(rows) // 4
        last = sum(r["train_loss"] for r in rows[-q:]) / q
        before = sum(r["train_loss"] for r in rows[-2 * q:-q]) / q
    else:
        return None
    return before <= 0 or (before - last) / before < PLATEAU_CHANGE


def _epoch_findings(rows, spec, summaries, shape, means=()) -> list[Finding]:
    """overfitting / underfitting / reg_too_strong from the per-epoch rows (reg_too_strong also from a
    flat curve: a penalty that is most of the objective pulls the weights to 0, and nothing is learnt)."""
    out = []
    reg = _reg_share(summaries.get("RegShare"))
    if shape == "flat" and reg is not None and reg > REG_SHARE:
        out.append(_too_strong(reg, "the loss stays flat"))
    if not rows:
        return out
    # the latest epoch that read each accuracy (a watched script's are read on some steps only)
    tr_acc, val_acc = latest(rows, "train_acc"), latest(rows, "val_acc")
    gap = tr_acc - val_acc if _finite(tr_acc) and _finite(val_acc) else None
    vals = [(r["epoch"], r["val_loss"]) for r in rows if _finite(r.get("val_loss"))]
    if gap is None:
        out += _val_loss_rises(rows, vals)
    if gap is not None and gap > GAP_WARN and vals:
        best_epoch, best = min(vals, key=lambda v: v[1])
        now = vals[-1][1]
        improving = best_epoch == vals[-1][0]      # val loss still at its best: generalisation improves
        rising = now > VAL_RISE * best and not improving
        memorized = tr_acc >= MEMORIZED   # the training set is learnt by heart: the gap is all that is left
        sev = "warning" if rising or memorized or gap > GAP_ALONE else "info"
        rise = f"; val loss {now:.3g} vs its minimum {best:.3g} at epoch {best_epoch}"
        if improving and gap <= GAP_ALONE:
            pass
        else:
            out.append(Finding("overfitting", sev,
                               f"train acc {tr_acc:.3f} vs val acc {val_acc:.3f} (gap {gap:.3f} > {GAP_WARN:g}){rise}",
                               facts={"gap": gap, "rising": rising, "train_acc": tr_acc},
                               score=min(1.0, gap / 0.5 + (0.2 if rising else 0.0))))
    if shape in ("flat", "exploded", "rises") or not _finite(tr_acc):
        return out
    plateau = _plateaued(list(means), rows)
    if plateau and tr_acc < UNDERFIT_ACC and (gap is None or gap < UNDERFIT_GAP):
        broken = _pathologies(summaries)
        note = ("; first fix the network: " + ", ".join(broken.values())) if broken else ""
        out.append(Finding("underfitting", "info" if broken else "warning",
                           f"the training loss has plateaued at train acc {tr_acc:.3f} (< {UNDERFIT_ACC:g})"
                           + (f", val acc {val_acc:.3f} (no gap)" if gap is not None else "") + note,
                           facts={"train_acc": tr_acc, "causes": list(broken)},
                           score=0.3 + 0.4 * (UNDERFIT_ACC - tr_acc) / UNDERFIT_ACC))
        if reg is not None and reg > REG_SHARE:
            out.append(_too_strong(reg, "the model underfits"))
    return out


def _too_strong(share: float, what: str) -> Finding:
    return Finding("reg_too_strong", "warning", f"the penalty reached {share:.0%} of the objective (> {REG_SHARE:.0%}) "
                   f"and {what}", facts={"reg_share": share}, score=min(1.0, share))


def latest(rows: list[dict], key: str) -> float | None:
    return next((r[key] for r in reversed(rows) if _finite(r.get(key))), None)


def _val_loss_rises(rows: list[dict], vals: list[tuple]) -> list[Finding]:
    """overfitting without accuracies (a regression, or none read): over >= VAL_EPOCHS epochs the
    validation loss ends > VAL_RISE_ALONE x its minimum (an earlier epoch) while the training loss
    kept falling below its value at that epoch and below half the validation loss."""
    if len(vals) < VAL_EPOCHS:
        return []
    best_epoch, best = min(vals, key=lambda v: v[1])
    end_epoch, now = vals[-1]
    train = {r["epoch"]: r.get("train_loss") for r in rows}
    at_best, at_end = train.get(best_epoch), train.get(end_epoch)
    if (best_epoch == end_epoch or best <= 0 or now <= VAL_RISE_ALONE * best or not _finite(at_best)
            or not _finite(at_end) or at_end >= at_best or at_end >= 0.5 * now):
        return []
    return [Finding("overfitting", "warning",
                    f"the validation loss rises from {best:.3g} (epoch {best_epoch}) to {now:.3g} (epoch {end_epoch}), "
                    f"{now / best:.2f}x (> {VAL_RISE_ALONE:g}x), while the training loss falls {at_best:.3g} -> {at_end:.3g}",
                    facts={"val_rise": now / best}, score=min(1.0, 0.4 + (now / best - VAL_RISE_ALONE)))]


def _reg_share(s: dict | None) -> float | None:
    shares = [v for v in (s or {}).get("share", []) if _finite(v)]
    return max(shares) if shares else None
