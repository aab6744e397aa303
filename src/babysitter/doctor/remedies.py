"""One remedy table: finding id + its facts + the host -> the change, and the advice text written from it.

A finding's remedy is chosen here and only here, for the host that will apply it:

- a **spec** (:class:`SpecHost`: ``check``, ``diagnose``, ``run``, ``treat``): the spec edit ``changes``
  ``{key: [old, new]}`` (validated with ``spec.override``; ``{}`` when no key reaches the fault), and
  the advice names each changed key with its new value ("model.init: normal -> he"), so the text
  and the edit cannot disagree;
- a **script** (:class:`ScriptHost`: ``babysit watch``, the Lightning callback): the code change
  (``changes`` stays ``{}``).

The lecture's remedy per finding (CS231n, Training Neural Networks I & II):

=======================  ==========================================================================
finding                  spec edit (doctor/spec_edits.py; code changes: doctor/code_changes.py)
=======================  ==========================================================================
data_not_normalized      data.preprocess -> [standardize] (zero mean, unit variance, fitted on train)
lr_too_high / _low       optim.lr -> the lr range test's suggestion (probes.lr_range.suggested) when it
                         lies on the right side of the current lr; else the reader's measured factor
                         (facts.suggested, facts.factor: lr / 10 or / 100, lr x 10 or x 100)
loss_not_finite          diverged at a too-high lr (its cause): optim.lr as lr_too_high; else an N(0, 1)-like
                         init -> the fitting init; else optim.lr as lr_too_high
cannot_overfit_tiny      optim.lr -> the range test's suggestion (when the lr is outside its band);
                         a linear model with the lr in the band: as underfitting
init_loss_off            model.init -> the init that fits the activation (:data:`FITTING_INIT`) when
                         the init is another one; then model.norm -> batch; then (resnet) small init
vanishing_gradients,     the fitting init (a sigmoid net: ReLU + He); then model.norm -> batch; then
bad_init_plateau,        model.activation -> relu (a saturating net)
saturated_units,
symmetric_weights
exploding_gradients      as above (init first, then batch norm); then train.clip_norm -> 1.0
dead_relu                model.activation -> leaky_relu (+ He init); a python model: optim.lr / 10
reg_too_strong           the strongest of regularize.l2 / l1 / optim.weight_decay / 10
reg_does_not_raise_loss  regularize.l2 -> 0 and optim.weight_decay += 2 l2 (the same step on every
                         parameter, so it reaches weights outside nn.Linear / nn.Conv)
overfitting              data.subset -> null when a subset is set; else dropout, a stronger L2 and
                         (1-D signals) shift augmentation
underfitting             model.kind linear -> mlp; else model.hidden x 2; less regularisation
noisy_loss               train.batch_size -> max(4 B, 32) (batch norm over tiny batches is the usual cause)
=======================  ==========================================================================

When a remedy did not cure, :func:`next_remedy` gives the next one on the same path (init, then
normalisation, then activation) for ``babysit treat``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from babysitter.doctor.code_changes import CODE, NO_EDIT, code_change
from babysitter.doctor.spec_edits import (BUILT_IN_NORM, SPEC_RULES, WHY, better_init, relu_instead, smaller_head,
                                          standardized)


@dataclass
class SpecHost:
    """A run described by a spec: remedies are spec edits. ``probes``: the check's measured numbers."""
    spec: Any
    probes: dict = field(default_factory=dict)


@dataclass
class ScriptHost:
    """A user's own script or loop: remedies are code changes. ``optimizer``: the torch.optim class
    name, ``lr``: the run's first lr (None: not seen)."""
    optimizer: str = "SGD"
    lr: float | None = None


# ---------------------------------------------------------------- the remedy and its text
def _get(spec, key: str) -> Any:
    node: Any = spec
    for part in key.split("."):
        node = getattr(node, part)
    return node.model_dump(mode="json") if hasattr(node, "model_dump") else node


def show(v) -> str:
    if v is None:
        return "null"
    return f"{v:g}" if isinstance(v, float) else str(v)


def spec_changes(f, spec, probes: dict | None = None) -> dict[str, list]:
    """``{key: [old, new]}`` for ``f`` on ``spec`` (empty when no spec key reaches the fault, or when
    the edit would not give a valid spec)."""
    from babysitter.errors import BadInput
    from babysitter.spec import override

    new = SPEC_RULES.get(f.id, lambda *a: {})(f, spec, probes or {})
    new = {k: v for k, v in new.items() if _get(spec, k) != v}
    if not new:
        return {}
    try:
        override(spec, **new)
    except BadInput:
        return {}
    return {k: [_get(spec, k), v] for k, v in new.items()}


def advice_text(f, changes: dict) -> str:
    """The advice written from the chosen edit: each changed key with its old and new value."""
    edits = "; ".join(f"{k}: {show(old)} -> {show(new)}" for k, (old, new) in changes.items())
    why = WHY.get(f.id)
    return f"{edits} ({why})" if why else edits


def remedy(f, host) -> tuple[dict, str]:
    """(changes, advice) for finding ``f`` on ``host`` (a :class:`SpecHost` or :class:`ScriptHost`)."""
    if isinstance(host, ScriptHost):
        return {}, code_change(f, host)
    changes = spec_changes(f, host.spec, host.probes)
    if changes and host.spec.model.kind == "python" and f.id in CODE:   # the model's own code holds the cause
        return changes, f"{advice_text(f, changes)}; in the model's code: {CODE[f.id]}"
    if changes:
        return changes, advice_text(f, changes)
    if host.spec.model.kind == "python" or f.id not in NO_EDIT:
        return {}, code_change(f, ScriptHost("X", host.spec.optim.lr))
    return {}, NO_EDIT[f.id]


def attach(findings: list, host) -> list:
    """Set each finding's ``changes`` and ``advice`` from its remedy on ``host`` (in place)."""
    for f in findings:
        f.changes, f.advice = remedy(f, host)
    return findings


def apply(spec, changes: dict[str, list]):
    """The spec with ``changes`` (``{key: [old, new]}``) applied, validated."""
    from babysitter.spec import override

    return override(spec, **{k: new for k, (_, new) in changes.items()})


def next_remedy(finding_id: str, spec, tried) -> dict[str, list]:
    """The remedy for ``finding_id`` on ``spec`` after the edits in ``tried`` (json keys of changes)
    did not cure: the same path one step further (init, then normalisation, then activation), or ``{}``.
    ``babysit treat`` calls it when the finding's own remedy was tried already."""
    import json

    if spec.model.kind == "python":
        return {}
    init = better_init
    norm = lambda s: {"model.norm": "batch"} if s.model.kind in BUILT_IN_NORM else {}  # noqa: E731
    clip = lambda s: {"train.clip_norm": 1.0} if s.train.clip_norm is None else {}  # noqa: E731
    paths = {"exploding_gradients": (init, norm, clip), "symmetric_weights": (init,),
             "init_loss_off": (init, smaller_head, standardized), "loss_not_finite": (init, norm, clip)}
    dying = (init, norm, relu_instead)   # the signal dies with depth: init, then normalisation, then activation
    for fid in ("vanishing_gradients", "saturated_units", "bad_init_plateau"):
        paths[fid] = dying
    for step in paths.get(finding_id, ()):
        new = {k: v for k, v in step(spec).items() if _get(spec, k) != v}
        if not new:
            continue
        changes = {k: [_get(spec, k), v] for k, v in new.items()}
        if json.dumps(changes, sort_keys=True) in tried:
            continue
        try:
            apply(spec, changes)
        except Exception:  # noqa: BLE001 - an edit the spec refuses is no remedy
            continue
        return changes
    return {}
