"""The spec-edit half of the remedy table (:mod:`babysitter.doctor.remedies`): finding id + its facts +
the spec -> ``{key: new value}`` (:data:`SPEC_RULES`), and why each edit helps (:data:`WHY`). The rows
are the lecture's remedies (CS231n, Training Neural Networks I & II), tabled in remedies.py's docstring.
"""

from __future__ import annotations

from typing import Callable

# The init whose variance keeps the activations' scale through a layer of this non-linearity
# (He et al. 2015 for the ReLU family, Glorot & Bengio 2010 for tanh/sigmoid, LeCun for SELU).
FITTING_INIT = {"relu": "he", "leaky_relu": "he", "prelu": "he", "elu": "he", "maxout": "he",
                "tanh": "xavier", "sigmoid": "xavier", "selu": "lecun"}
BUILT_IN_NORM = ("mlp", "cnn", "resnet")   # model kinds whose layers model.norm reaches
ONE_D_SOURCES = ("mnist1d",)               # signals where shift augmentation keeps the label


def sig(x: float) -> float:
    """Two significant digits: an lr a person would write."""
    return float(f"{x:.2g}")


def new_lr(lr: float, lower: bool, suggestions=(), factor: float | None = None) -> float:
    """The lr a remedy moves to: the first of ``suggestions`` (the range test's, a reader's) on the right
    side of ``lr``, else ``lr / factor`` (``lower``) or ``lr x factor``; ``factor`` 10 when not given."""
    for s in suggestions:
        if s and (s < lr if lower else s > lr):
            return sig(s)
    factor = factor or 10
    return sig(lr / factor if lower else lr * factor)


def _fitting_init(spec) -> str:
    return FITTING_INIT.get(spec.model.activation, "he")


def _init_fits(spec) -> bool:
    """The init is the one that fits the activation, at its own scale."""
    return spec.model.init == _fitting_init(spec) and spec.model.init_scale is None


def _lr_to(f, spec, probes: dict, lower: bool) -> dict:
    """optim.lr towards the range test's suggestion (if on the right side), else by the reader's factor."""
    suggested = ((probes.get("lr_range") or {}).get("suggested"), f.facts.get("suggested"))
    return {"optim.lr": new_lr(spec.optim.lr, lower, suggested, f.facts.get("factor"))}


def better_init(spec) -> dict:
    """The init that fits the activation; a sigmoid net gets ReLU + He instead (the lecture: "don't
    use sigmoid": measured on the clinic's sigmoid MLP on MNIST-1D, Xavier alone left it unable to
    overfit 20 examples at the spec's lr)."""
    if spec.model.activation == "sigmoid":
        return {"model.activation": "relu", "model.init": "he", "model.init_scale": None}
    return {"model.init": _fitting_init(spec), "model.init_scale": None}


def _init_path(spec, last: dict | None = None) -> dict:
    """The lecture's order for a net whose signal dies or blows up with depth: an init that fits
    the activation, then batch norm, then ``last`` (e.g. ReLU, gradient clipping)."""
    m = spec.model
    if m.kind == "python":
        return {}
    if not _init_fits(spec):
        return better_init(spec)
    if m.kind in BUILT_IN_NORM and m.norm == "none":
        return {"model.norm": "batch"}
    return last or {}


def relu_instead(spec) -> dict:
    return {} if spec.model.activation in ("relu", "leaky_relu") else {"model.activation": "relu", "model.init": "he"}


def _signal_dies(f, spec, probes):
    return _init_path(spec, relu_instead(spec))


def _exploding(f, spec, probes):
    return _init_path(spec, {"train.clip_norm": 1.0} if spec.train.clip_norm is None else {})


def _loss_not_finite(f, spec, probes):
    if "lr_too_high" in f.causes:   # it diverged at a too-high lr (causes.diverged_at_high_lr)
        return _lr_to(f, spec, probes, lower=True)
    if spec.model.kind != "python" and spec.model.init in ("normal", "zeros"):
        return {"model.init": _fitting_init(spec)}   # N(0, 1) weights overflow whatever the lr
    return _lr_to(f, spec, probes, lower=True)


def _cannot_overfit_tiny(f, spec, probes):
    band = probes.get("lr_range") or {}
    low, high, lr = band.get("low"), band.get("high"), spec.optim.lr
    if high and lr > 3 * high:
        return _lr_to(f, spec, probes, lower=True)
    if low and lr < low / 3:
        return _lr_to(f, spec, probes, lower=False)
    if spec.model.kind == "linear":   # the lr is fine: a linear classifier cannot separate them
        return _underfitting(f, spec, probes)
    return {}


def _init_loss_off(f, spec, probes):
    """Scores far from ~0 at init: a fixed-scale init -> the fitting one; a fitting init already (it
    keeps the hidden signal's scale, and so the scores' too): a tenth of the output layer's init
    (``model.head_init_scale``, down to 1e-3), then inputs standardised (unscaled features make large
    scores through any init). Below chance (``facts.below_chance``) is no init fault."""
    m = spec.model
    if m.kind == "python" or f.facts.get("below_chance"):
        return {}
    return better_init(spec) if not _init_fits(spec) else smaller_head(spec) or standardized(spec)


def smaller_head(spec) -> dict:
    """A tenth of the output layer's init (model.head_init_scale 1 -> 0.1 -> ... -> 1e-3)."""
    scale = spec.model.head_init_scale or 1.0
    return {"model.head_init_scale": sig(scale / 10)} if scale > 1e-3 else {}


def standardized(spec) -> dict:
    """Inputs standardised (data.preprocess), unless a standardize or whiten step is there."""
    return {} if {"standardize", "whiten"} & {s.split(":")[0] for s in spec.data.preprocess} \
        else {"data.preprocess": ["standardize"]}


def _dead_relu(f, spec, probes):
    m = spec.model
    if m.kind == "python":
        return {"optim.lr": sig(spec.optim.lr / 10)}
    out = {"model.activation": "leaky_relu"} if m.activation == "relu" else {}
    if m.init != "he":
        out["model.init"] = "he"
    return out or {"optim.lr": sig(spec.optim.lr / 10)}


def weaker_penalty(spec) -> dict:
    """A tenth of the penalty that dominates (L2, L1 or weight decay)."""
    r, wd = spec.regularize, spec.optim.weight_decay
    if r.l2 >= wd / 2 and r.l2 > 0:
        return {"regularize.l2": sig(r.l2 / 10)}
    if r.l1 > 0 and wd == 0:
        return {"regularize.l1": sig(r.l1 / 10)}
    return {"optim.weight_decay": sig(wd / 10)} if wd > 0 else {}


def _reg_does_not_raise_loss(f, spec, probes):
    r = spec.regularize
    if f.facts.get("penalized", 0) > 0 or r.l2 <= 0:   # the penalty reaches weights that are ~0 at init
        return {}
    return {"regularize.l2": 0.0, "optim.weight_decay": sig(spec.optim.weight_decay + 2 * r.l2)}


def _overfitting(f, spec, probes):
    """More data first (regularisation cannot close the gap of a net that memorises 60 examples);
    without a subset: dropout, a stronger L2 penalty and (1-D signals) shift augmentation."""
    if spec.data.subset is not None:
        return {"data.subset": None}
    m, out = spec.model, {}
    if m.kind in BUILT_IN_NORM and m.dropout < 0.2:
        out["model.dropout"] = 0.5 if m.kind == "mlp" else 0.2
    l2 = spec.regularize.l2
    out["regularize.l2"] = 1e-3 if l2 < 1e-3 else sig(l2 * 10)
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
        out["regularize.l2"] = sig(spec.regularize.l2 / 10)
    if m.dropout > 0:
        out["model.dropout"] = 0.0
    return out


def _noisy_loss(f, spec, probes):
    bs = spec.train.batch_size
    return {"train.batch_size": max(4 * bs, 32)}


def _data_not_normalized(f, spec, probes):
    return standardized(spec)


SPEC_RULES: dict[str, Callable] = {
    "data_not_normalized": _data_not_normalized,
    "lr_too_high": lambda f, spec, probes: _lr_to(f, spec, probes, lower=True),
    "lr_too_low": lambda f, spec, probes: _lr_to(f, spec, probes, lower=False),
    "loss_not_finite": _loss_not_finite, "cannot_overfit_tiny": _cannot_overfit_tiny,
    "init_loss_off": _init_loss_off, "vanishing_gradients": _signal_dies, "bad_init_plateau": _signal_dies,
    "saturated_units": _signal_dies, "symmetric_weights": lambda f, spec, probes: _init_path(spec),
    "exploding_gradients": _exploding, "dead_relu": _dead_relu,
    "reg_too_strong": lambda f, spec, probes: weaker_penalty(spec),
    "reg_does_not_raise_loss": _reg_does_not_raise_loss,
    "overfitting": _overfitting, "underfitting": _underfitting, "noisy_loss": _noisy_loss,
}

# Why the edit helps (appended to the advice after the edits; names no key, so it cannot disagree)
WHY = {
    "data_not_normalized": "zero mean, unit variance, fitted on the training split",
    "lr_too_high": "the steps overshoot", "lr_too_low": "the weights barely move",
    "loss_not_finite": "the loss overflowed", "init_loss_off": "the scores at init should be ~0 (loss ~ ln C)",
    "vanishing_gradients": "keep the signal's scale through the layers",
    "exploding_gradients": "keep the signal's scale through the layers",
    "saturated_units": "keep the units out of their flat tails", "bad_init_plateau": "a better start",
    "symmetric_weights": "random weights break the symmetry", "dead_relu": "units that can recover",
    "reg_too_strong": "the penalty dominates the objective",
    "reg_does_not_raise_loss": "weight decay reaches every parameter",
    "overfitting": "more data or more regularisation", "underfitting": "more capacity, less regularisation",
    "noisy_loss": "batch statistics of a few examples are noise",
    "cannot_overfit_tiny": "the lr is outside the range test's band",
}
