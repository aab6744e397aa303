"""Causal rules on facts: which finding explains which (each rule once, reading ``Finding.facts``).

A rule marks a symptom with its cause (``Finding.adjust(..., cause=X)``: ``facts["causes"]`` gets X,
and :func:`babysitter.doctor.findings.rank` puts X first) and, where the symptom is nothing but that
consequence, makes it info. No rule reads evidence or advice text: rewording a message cannot
change a verdict.

==================================  ===================================================================
cause (facts)                       its symptoms
==================================  ===================================================================
exploding_gradients ``at_init``     lr_too_high / lr_too_low (info): any lr diverges from such an init
loss_not_finite (seen in the run)   exploding_gradients ``non_finite`` (a NaN loss back-propagates
                                    NaN); dead_relu (read after it)
lr_too_high (live)                  loss_not_finite in the run (not ``at_init``, no ``origin`` in the
                                    data or in a forward op on finite weights): the loss diverged at
                                    an lr the other evidence calls too high (remedy: the lr cut)
lr_too_high ``exploded``            vanishing_gradients, dead_relu, saturated_units after the loss
                                    exploded (a high lr knocks ReLUs off the data manifold)
dead_relu ``last_grad_zero`` or     vanishing_gradients, lr_too_low (info: dead units pass no gradient);
``fraction`` >= 1                   cannot_overfit_tiny, underfitting (dead units cannot learn)
no_gradient_flow                    lr_too_low (info: no gradient at the step, no update)
reg_too_strong                      vanishing_gradients, lr_too_high from the update ratio, lr_too_low
                                    (info: weights pulled to ~0 pass tiny gradients, and any update is
                                    large beside them); cannot_overfit_tiny, underfitting
==================================  ===================================================================
"""

from __future__ import annotations

from babysitter.doctor.findings import Finding

LR_IDS = ("lr_too_high", "lr_too_low")


def _symptom(f: Finding, cause: str, why: str, info: bool = False) -> None:
    """Mark ``f`` as following from ``cause``; info when it is nothing but that consequence."""
    if cause not in f.causes:
        f.adjust(-0.2 if info else 0.0, f"{why} (see {cause})", severity="info" if info else None, cause=cause)


def init_explodes(findings: list[Finding]) -> list[Finding]:
    """Gradients that explode before the first step are the init's doing: any lr then diverges,
    so the lr findings are its symptoms, not causes of their own."""
    at_init = any(f.id == "exploding_gradients" and f.facts.get("at_init") and f.severity != "info" for f in findings)
    if at_init:
        for f in findings:
            if f.id in LR_IDS and f.severity != "info":
                f.adjust(-0.5, "the gradients already explode at init (see exploding_gradients)", severity="info",
                         cause="exploding_gradients")
    return findings


def run_failures(findings: list[Finding]) -> list[Finding]:
    """The observed failure and its cause before their consequences (module table)."""
    live = {f.id: f for f in findings if f.severity != "info"}
    if "loss_not_finite" in live:
        for f in findings:
            if f.id == "exploding_gradients" and f.facts.get("non_finite") and not f.facts.get("at_init"):
                _symptom(f, "loss_not_finite", "a non-finite loss back-propagates non-finite gradients")
            elif f is live.get(f.id) and f.id == "dead_relu" and not f.facts.get("at_init"):
                _symptom(f, "loss_not_finite", "read after the loss became non-finite")
    lr = live.get("lr_too_high")
    if lr is not None and lr.facts.get("exploded"):
        for f in findings:
            if f.id in ("vanishing_gradients", "dead_relu", "saturated_units") and f.severity != "info" \
                    and not f.facts.get("at_init"):
                _symptom(f, "lr_too_high", "after the loss exploded")
    if "no_gradient_flow" in live:
        for f in findings:
            if f.id == "lr_too_low" and f.severity != "info":
                _symptom(f, "no_gradient_flow", "no gradient reaches the step", info=True)
    if "reg_too_strong" in live:
        for f in findings:
            if f.id in ("vanishing_gradients", "lr_too_low") or (f.id == "lr_too_high" and "update_ratio" in f.facts):
                if f.severity != "info":
                    _symptom(f, "reg_too_strong", "the penalty pulls the weights toward 0", info=True)
            elif f.id in ("cannot_overfit_tiny", "underfitting"):
                _symptom(f, "reg_too_strong", "the penalty holds the weights near 0")
    dead = live.get("dead_relu")
    if dead is not None and (dead.facts.get("last_grad_zero") or (dead.facts.get("fraction") or 0) >= 1.0):
        for f in findings:
            if f.id in ("vanishing_gradients", "lr_too_low") and f.severity != "info":
                _symptom(f, "dead_relu", "dead units pass no gradient", info=True)
            elif f.id in ("cannot_overfit_tiny", "underfitting"):
                _symptom(f, "dead_relu", "dead units cannot learn")
    return findings


def diverged_at_high_lr(findings: list[Finding]) -> list[Finding]:
    """A loss that became non-finite during the run at an lr that other evidence calls too high (a
    live lr_too_high: the range test, the update ratio, the curve's explosion) diverged because of
    the lr: lr_too_high is its cause. Not when the first non-finite value came with the data
    (``origin.input_nonfinite``) or from a forward op on finite weights (the model's own op, e.g. a
    log of 0), and not at init (the init's doing: no lr is live then, see :func:`init_explodes`)."""
    live = {f.id: f for f in findings if f.severity != "info"}
    lost, lr = live.get("loss_not_finite"), live.get("lr_too_high")
    if lost is None or lr is None or lost.facts.get("at_init") or "loss_not_finite" in lr.causes:
        return findings
    origin = lost.facts.get("origin") or {}
    if origin.get("input_nonfinite") or (origin.get("op") and origin.get("pass") == "forward"
                                         and not origin.get("parameters_nonfinite")):
        return findings
    if "lr_too_high" not in lost.causes:
        lost.adjust(0.0, "the loss diverged at an lr that is too high (see lr_too_high)", cause="lr_too_high")
    return findings


def explain(findings: list[Finding]) -> list[Finding]:
    """Every causal rule, in order, on every host (check, diagnose, run, treat, watch, Lightning)."""
    return diverged_at_high_lr(run_failures(init_explodes(findings)))
