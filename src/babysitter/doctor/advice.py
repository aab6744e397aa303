"""The doctor's advice as spec edits: ``changes_for(finding, spec, probes) -> {key: [old, new]}``.

Each finding's ``advice`` text says what to change in spec keys; ``changes`` is the same advice
as an edit that ``babysit treat`` can apply, picked for THIS spec where the advice offers
alternatives. The lecture's remedy per finding (CS231n, Training Neural Networks I & II):

=======================  ==========================================================================
finding                  change
=======================  ==========================================================================
data_not_normalized      data.preprocess -> [standardize] (zero mean, unit variance, fitted on train)
lr_too_high / _low       optim.lr -> the lr range test's suggestion (probes.lr_range.suggested) when it
                         lies on the right side of the current lr; else the advice's own number
loss_not_finite          optim.lr / 10 (or the range test's suggestion if lower)
cannot_overfit_tiny      optim.lr -> the range test's suggestion (when the lr is outside its band);
                         a linear model with the lr in the band: as underfitting
init_loss_off            model.init -> the init that fits the activation (see FITTING_INIT) when the
                         init is another one; then model.norm -> batch; then (resnet) model.init -> small
vanishing_gradients,     model.init -> the fitting init (a sigmoid net: model.activation -> relu with
                         model.init -> he); if it is already that: model.norm -> batch;
bad_init_plateau,        then model.activation -> relu (a deep sigmoid/tanh net without batch norm)
saturated_units,
symmetric_weights
exploding_gradients      as above (init first, then batch norm); then train.clip_norm -> 1.0
dead_relu                model.activation -> leaky_relu (+ model.init -> he if it is not); a python
                         model: optim.lr / 10 (the only key that reaches its units)
reg_too_strong           the advice's edit: the strongest of regularize.l2 / l1 / optim.weight_decay / 10
reg_does_not_raise_loss  regularize.l2 -> 0 and optim.weight_decay += 2 l2 (weight decay wd adds wd W
                         to the gradient, the penalty l2 sum W^2 adds 2 l2 W: the same step, but on
                         every parameter, so it reaches weights outside nn.Linear / nn.Conv)
overfitting              data.subset -> null (all the training data) when a subset is set; else
                         model.dropout -> 0.5 (mlp) / 0.2 (cnn, resnet); regularize.l2 -> 1e-3 (x10 if
                         set); data.augment -> [shift:4] for 1-D signals when none is set
underfitting             model.kind linear -> mlp; else model.hidden x 2; less regularisation
noisy_loss               the advice's train.batch_size (batch norm over tiny batches is the usual cause)
=======================  ==========================================================================

A change is only returned if the edited spec validates (``spec.override``); otherwise ``{}``.
Findings of a user's own code (gradient_check_failed, the watch-mode ids) give ``{}``: the fix is
a code change.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from babysitter.errors import BadInput
from babysitter.spec import RunSpec, override

# The init whose variance keeps the activations' scale through a layer of this non-linearity
# (He et al. 2015 for the ReLU family, Glorot & Bengio 2010 for tanh/sigmoid, LeCun for SELU).
FITTING_INIT = {"relu": "he", "leaky_relu": "he", "prelu": "he", "elu": "he", "maxout": "he",
                "tanh": "xavier", "sigmoid": "xavier", "selu": "lecun"}
BUILT_IN_NORM = ("mlp", "cnn", "resnet")   # model kinds whose layers model.norm reaches
ONE_D_SOURCES = ("mnist1d",)               # signals where shift augmentation keeps the label

_EDIT = re.compile(r"([a-z_]+\.[a-z_]+): *([-+0-9.eE]+|null|None) *-> *([-+0-9.eE]+)")


def parse_edits(advice: str) -> dict[str, float]:
    """The numeric edits written in an advice text: ``"optim.lr: 8 -> 0.8; ..."`` -> {"optim.lr": 0.8}."""
    out = {}
    for key, _, new in _EDIT.findall(advice):
        try:
            out[key] = int(new) if re.fullmatch(r"[-+]?\d+", new) else float(new)
        except ValueError:
            continue
    return out


def _get(spec: RunSpec, key: str) -> Any:
    node: Any = spec
    for part in key.split("."):
        node = getattr(node, part)
    return node.model_dump(mode="json") if hasattr(node, "model_dump") else node


def _sig(x: float) -> float:
    """Two significant digits: an lr a person would write."""
    return float(f"{x:.2g}")


def _fitting_init(spec: RunSpec) -> str:
    return FITTING_INIT.get(spec.model.activation, "he")


def _lr_to(spec: RunSpec, probes: dict, lower: bool, advice: str) -> dict:
    """optim.lr towards the range test's suggestion (if on the right side), else the advice's number."""
    lr = spec.optim.lr
    suggested = (probes.get("lr_range") or {}).get("suggested")
    if suggested and (suggested < lr if lower else suggested > lr):
        return {"optim.lr": _sig(suggested)}
    new = parse_edits(advice).get("optim.lr")
    if new is not None and (new < lr if lower else new > lr):
        return {"optim.lr": _sig(new)}
    return {"optim.lr": _sig(lr / 10 if lower else lr * 10)}


def _lr_too_high(f, spec, probes):
    return _lr_to(spec, probes, True, f.advice)


def _lr_too_low(f, spec, probes):
    return _lr_to(spec, probes, False, f.advice)


def _loss_not_finite(f, spec, probes):
    if spec.model.kind != "python" and spec.model.init != _fitting_init(spec) and spec.model.init in ("normal", "zeros"):
        return {"model.init": _fitting_init(spec)}   # N(0, 1) weights overflow whatever the lr
    return _lr_to(spec, probes, True, f.advice)


def _cannot_overfit_tiny(f, spec, probes):
    band = probes.get("lr_range") or {}
    low, high, lr = band.get("low"), band.get("high"), spec.optim.lr
    if high and lr > 3 * high:
        return _lr_to(spec, probes, True, f.advice)
    if low and lr < low / 3:
        return _lr_to(spec, probes, False, f.advice)
    if spec.model.kind == "linear":   # the lr is fine: a linear classifier cannot separate them
        return _underfitting(f, spec, probes)
    return {}


def _better_init(spec: RunSpec) -> dict:
    """The init that fits the activation; a sigmoid net gets ReLU + He instead (the lecture: "don't
    use sigmoid": it saturates and is not zero-centred; measured on the clinic's sigmoid MLP on
    MNIST-1D, Xavier alone left it unable to overfit 20 examples at the spec's lr)."""
    if spec.model.activation == "sigmoid":
        return {"model.activation": "relu", "model.init": "he", "model.init_scale": None}
    return {"model.init": _fitting_init(spec), "model.init_scale": None}


def _init_path(spec: RunSpec, last: dict | None = None) -> dict:
    """The lecture's order for a net whose signal dies or blows up with depth: an init that fits
    the activation, then batch norm, then ``last`` (e.g. ReLU, gradient clipping)."""
    m = spec.model
    if m.kind == "python":
        return {}
    if m.init != _fitting_init(spec) or m.init_scale is not None:
        return _better_init(spec)
    if m.kind in BUILT_IN_NORM and m.norm == "none":
        return {"model.norm": "batch"}
    return last or {}


def _signal_dies(f, spec, probes):
    relu = {} if spec.model.activation in ("relu", "leaky_relu") else {"model.activation": "relu", "model.init": "he"}
    return _init_path(spec, relu)


def _exploding(f, spec, probes):
    return _init_path(spec, {"train.clip_norm": 1.0} if spec.train.clip_norm is None else {})


def _init_loss_off(f, spec, probes):
    """Scores far from ~0 at init: a fixed-scale init -> the fitting one; a fitting init already:
    batch norm keeps the scale through the layers; a resnet with it too: small weights (its
    identity paths still carry the signal, so the net does not go dead as a plain deep net would)."""
    m = spec.model
    if m.kind == "python" or f.severity == "info":
        return {}
    if m.init != _fitting_init(spec) or m.init_scale is not None:
        return _better_init(spec)
    if m.kind in BUILT_IN_NORM and m.norm == "none":
        return {"model.norm": "batch"}
    return {"model.init": "small"} if m.kind == "resnet" else {}


def _dead_relu(f, spec, probes):
    m = spec.model
    if m.kind == "python":
        return {"optim.lr": _sig(spec.optim.lr / 10)}
    out = {"model.activation": "leaky_relu"} if m.activation == "relu" else {}
    if m.init not in ("he",):
        out["model.init"] = "he"
    return out or {"optim.lr": _sig(spec.optim.lr / 10)}


def _reg_too_strong(f, spec, probes):
    edits = {k: v for k, v in parse_edits(f.advice).items()
             if k in ("regularize.l2", "regularize.l1", "optim.weight_decay")}
    if edits:
        return edits
    r = spec.regularize
    return {"regularize.l2": r.l2 / 10} if r.l2 > 0 else {}


def _reg_does_not_raise_loss(f, spec, probes):
    r = spec.regularize
    if f.severity == "info" or r.l2 <= 0:
        return {}
    return {"regularize.l2": 0.0, "optim.weight_decay": _sig(spec.optim.weight_decay + 2 * r.l2)}


def _overfitting(f, spec, probes):
    """The lecture's first remedy is more data: a spec trained on a subset gets all of its source
    (regularisation cannot close the gap of a net that memorises 60 examples: measured on the
    clinic's big MLP, dropout 0.5 + l2 up to 0.1 left val accuracy where it was). Without a subset:
    dropout, a stronger L2 penalty and (1-D signals) shift augmentation."""
    if spec.data.subset is not None:
        return {"data.subset": None}
    m, out = spec.model, {}
    if m.kind in BUILT_IN_NORM and m.dropout < 0.2:
        out["model.dropout"] = 0.5 if m.kind == "mlp" else 0.2
    l2 = spec.regularize.l2
    out["regularize.l2"] = 1e-3 if l2 < 1e-3 else _sig(l2 * 10)
    if not spec.data.augment and spec.data.source in ONE_D_SOURCES:
        out["data.augment"] = ["shift:4"]
    return out


def _underfitting(f, spec, probes):
    m = spec.model
    if m.kind == "linear":
        out = {"model.kind": "mlp", "model.hidden": [128, 128]}
    elif m.kind in BUILT_IN_NORM:
        out = {"model.hidden": [w * 2 for w in m.hidden]}
    else:
        out = {}
    if spec.regularize.l2 > 0:
        out["regularize.l2"] = spec.regularize.l2 / 10
    if m.dropout > 0:
        out["model.dropout"] = 0.0
    return out


def _noisy_loss(f, spec, probes):
    bs = parse_edits(f.advice).get("train.batch_size")
    return {"train.batch_size": int(bs)} if bs and bs > spec.train.batch_size else {}


def _none(f, spec, probes):
    return {}


RULES: dict[str, Callable] = {
    "data_not_normalized": lambda f, spec, probes: (
        {"data.preprocess": ["standardize"]}
        if not {"standardize", "whiten"} & {s.split(":")[0] for s in spec.data.preprocess} else {}),
    "lr_too_high": _lr_too_high, "lr_too_low": _lr_too_low, "loss_not_finite": _loss_not_finite,
    "cannot_overfit_tiny": _cannot_overfit_tiny, "init_loss_off": _init_loss_off,
    "vanishing_gradients": _signal_dies, "bad_init_plateau": _signal_dies, "saturated_units": _signal_dies,
    "symmetric_weights": lambda f, spec, probes: _init_path(spec),
    "exploding_gradients": _exploding, "dead_relu": _dead_relu,
    "reg_too_strong": _reg_too_strong, "reg_does_not_raise_loss": _reg_does_not_raise_loss,
    "overfitting": _overfitting, "underfitting": _underfitting, "noisy_loss": _noisy_loss,
}


def changes_for(finding, spec: RunSpec, probes: dict | None = None) -> dict[str, list]:
    """``{key: [old, new]}`` for ``finding`` on ``spec`` (empty when the fix is not a spec edit,
    or when the edit would not give a valid spec). ``probes``: the check's measured numbers."""
    rule = RULES.get(finding.id, _none)
    new = rule(finding, spec, probes or {})
    new = {k: v for k, v in new.items() if _get(spec, k) != v}
    if not new:
        return {}
    try:
        override(spec, **new)
    except BadInput:
        return {}
    return {k: [_get(spec, k), v] for k, v in new.items()}


def attach(findings: list, spec: RunSpec, probes: dict | None = None) -> list:
    """Set each finding's ``changes`` for ``spec`` (in place); returns the list."""
    for f in findings:
        f.changes = changes_for(f, spec, probes)
    return findings


def apply(spec: RunSpec, changes: dict[str, list]) -> RunSpec:
    """The spec with ``changes`` (``{key: [old, new]}``) applied, validated."""
    return override(spec, **{k: new for k, (_, new) in changes.items()})
