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
finding                  spec edit (the code change for a script is in :data:`CODE`)
=======================  ==========================================================================
data_not_normalized      data.preprocess -> [standardize] (zero mean, unit variance, fitted on train)
lr_too_high / _low       optim.lr -> the lr range test's suggestion (probes.lr_range.suggested) when it
                         lies on the right side of the current lr; else the reader's measured factor
                         (facts.suggested, facts.factor: lr / 10 or / 100, lr x 10 or x 100)
loss_not_finite          N(0, 1)-like init -> the fitting init; else optim.lr as lr_too_high
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
from typing import Any, Callable

# The init whose variance keeps the activations' scale through a layer of this non-linearity
# (He et al. 2015 for the ReLU family, Glorot & Bengio 2010 for tanh/sigmoid, LeCun for SELU).
FITTING_INIT = {"relu": "he", "leaky_relu": "he", "prelu": "he", "elu": "he", "maxout": "he",
                "tanh": "xavier", "sigmoid": "xavier", "selu": "lecun"}
BUILT_IN_NORM = ("mlp", "cnn", "resnet")   # model kinds whose layers model.norm reaches
ONE_D_SOURCES = ("mnist1d",)               # signals where shift augmentation keeps the label


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


def _sig(x: float) -> float:
    """Two significant digits: an lr a person would write."""
    return float(f"{x:.2g}")


# ---------------------------------------------------------------- spec edits
def _fitting_init(spec) -> str:
    return FITTING_INIT.get(spec.model.activation, "he")


def _lr_to(f, spec, probes: dict, lower: bool) -> dict:
    """optim.lr towards the range test's suggestion (if on the right side), else by the reader's factor."""
    lr = spec.optim.lr
    for s in ((probes.get("lr_range") or {}).get("suggested"), f.facts.get("suggested")):
        if s and (s < lr if lower else s > lr):
            return {"optim.lr": _sig(s)}
    factor = f.facts.get("factor") or 10
    return {"optim.lr": _sig(lr / factor if lower else lr * factor)}


def _better_init(spec) -> dict:
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
    if m.init != _fitting_init(spec) or m.init_scale is not None:
        return _better_init(spec)
    if m.kind in BUILT_IN_NORM and m.norm == "none":
        return {"model.norm": "batch"}
    return last or {}


def _relu(spec) -> dict:
    return {} if spec.model.activation in ("relu", "leaky_relu") else {"model.activation": "relu", "model.init": "he"}


def _signal_dies(f, spec, probes):
    return _init_path(spec, _relu(spec))


def _exploding(f, spec, probes):
    return _init_path(spec, {"train.clip_norm": 1.0} if spec.train.clip_norm is None else {})


def _loss_not_finite(f, spec, probes):
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
    """Scores far from ~0 at init: a fixed-scale init -> the fitting one; a fitting init already:
    batch norm keeps the scale; a resnet with it too: small weights (its identity paths still carry
    the signal). Below chance (``facts.below_chance``) is no init fault."""
    m = spec.model
    if m.kind == "python" or f.facts.get("below_chance"):
        return {}
    return _init_path(spec, {"model.init": "small"} if m.kind == "resnet" else {})


def _dead_relu(f, spec, probes):
    m = spec.model
    if m.kind == "python":
        return {"optim.lr": _sig(spec.optim.lr / 10)}
    out = {"model.activation": "leaky_relu"} if m.activation == "relu" else {}
    if m.init != "he":
        out["model.init"] = "he"
    return out or {"optim.lr": _sig(spec.optim.lr / 10)}


def weaker_penalty(spec) -> dict:
    """A tenth of the penalty that dominates (L2, L1 or weight decay)."""
    r, wd = spec.regularize, spec.optim.weight_decay
    if r.l2 >= wd / 2 and r.l2 > 0:
        return {"regularize.l2": _sig(r.l2 / 10)}
    if r.l1 > 0 and wd == 0:
        return {"regularize.l1": _sig(r.l1 / 10)}
    return {"optim.weight_decay": _sig(wd / 10)} if wd > 0 else {}


def _reg_does_not_raise_loss(f, spec, probes):
    r = spec.regularize
    if f.facts.get("penalized", 0) > 0 or r.l2 <= 0:   # the penalty reaches weights that are ~0 at init
        return {}
    return {"regularize.l2": 0.0, "optim.weight_decay": _sig(spec.optim.weight_decay + 2 * r.l2)}


def _overfitting(f, spec, probes):
    """More data first (regularisation cannot close the gap of a net that memorises 60 examples);
    without a subset: dropout, a stronger L2 penalty and (1-D signals) shift augmentation."""
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
        out["regularize.l2"] = _sig(spec.regularize.l2 / 10)
    if m.dropout > 0:
        out["model.dropout"] = 0.0
    return out


def _noisy_loss(f, spec, probes):
    bs = spec.train.batch_size
    return {"train.batch_size": max(4 * bs, 32)}


def _data_not_normalized(f, spec, probes):
    return {} if {"standardize", "whiten"} & {s.split(":")[0] for s in spec.data.preprocess} \
        else {"data.preprocess": ["standardize"]}


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

# ---------------------------------------------------------------- code changes
# What to change in a user's own code; also the text for a spec finding that no spec key reaches.
CODE = {
    "data_not_normalized": "standardize the inputs: x = (x - mean) / std with the training set's mean and std "
                           "(e.g. transforms.Normalize(mean, std), or StandardScaler fitted on train)",
    "init_loss_off": "scale the last layer's initial weights down (e.g. nn.init.normal_(last.weight, std=1e-2); "
                     "nn.init.zeros_(last.bias)), or use nn.init.kaiming_normal_ for ReLU layers",
    "vanishing_gradients": "initialise with nn.init.kaiming_normal_ (ReLU) or nn.init.xavier_normal_ (tanh), "
                           "add nn.BatchNorm1d/2d after the layers, or use ReLU instead of sigmoid/tanh",
    "exploding_gradients": "initialise with nn.init.kaiming_normal_ (ReLU) or nn.init.xavier_normal_ (tanh), "
                           "or add nn.BatchNorm1d/2d after the layers; clip: "
                           "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) before optimizer.step()",
    "dead_relu": "do not shift the biases negative (nn.init.zeros_(layer.bias)); nn.init.kaiming_normal_; "
                 "nn.LeakyReLU instead of nn.ReLU",
    "saturated_units": "nn.init.xavier_normal_ for tanh/sigmoid layers; add batch norm; or use ReLU",
    "bad_init_plateau": "initialise with nn.init.kaiming_normal_ (ReLU) or xavier_normal_ (tanh); add batch norm",
    "symmetric_weights": "do not initialise the weights to a constant: nn.init.kaiming_normal_ (break the symmetry)",
    "cannot_overfit_tiny": "the model cannot memorise 20 examples: check the lr (see lr_range), the loss's "
                           "inputs, and that the optimizer holds the model's parameters",
    "overfitting": "regularise: weight_decay=1e-4 in the optimizer, nn.Dropout(0.5), more data or augmentation, "
                   "or stop earlier",
    "underfitting": "a bigger model (wider/deeper layers) or train longer; less regularisation",
    "reg_too_strong": "lower weight_decay / the penalty 10x",
    "reg_does_not_raise_loss": "build the model from nn.Linear / nn.Conv layers, or add your own penalty term; "
                               "weight decay acts on every parameter",
    "noisy_loss": "a larger batch (DataLoader(batch_size=...) x4) or a lower lr",
    "gradient_check_failed": "a custom layer's backward (or a non-differentiable op) is wrong; check the layer named here",
    "class_imbalance": "read per-class accuracy, not only the overall one; more data for the small classes, "
                       "or a class-balanced subset",
    "unshuffled_data": "shuffle the training data every epoch: DataLoader(..., shuffle=True), "
                       "or index with torch.randperm(N) each epoch",
    "labels_look_random": "the labels do not follow the inputs: check that x and y are indexed/shuffled together "
                          "(one permutation for both, or a TensorDataset), and the label column",
    "grad_not_zeroed": "call optimizer.zero_grad() once per step, before loss.backward() (or after optimizer.step())",
    "eval_mode_training": "call model.train() before the training loop (and again after every validation pass "
                          "that called model.eval())",
    "no_gradient_flow": "backpropagate the loss tensor itself: no .item(), .detach(), .numpy() or torch.tensor(loss) "
                        "between the model's output and loss.backward()",
    "parameters_not_updated": "build the optimizer over all trained parameters: torch.optim.X(model.parameters(), ...) "
                              "after the model is final; check the optimizer's lr (> 0)",
    "missing_activation": "put a non-linearity between the layers (nn.ReLU() in the nn.Sequential, or F.relu in forward)",
    "softmax_before_loss": "remove the softmax before the loss: nn.CrossEntropyLoss / F.cross_entropy take raw "
                           "scores (logits) and apply log_softmax themselves",
    "no_training_seen": "train inside the watched script (torch.optim optimizers and hand-written updates after "
                        "loss.backward() are followed); a model trained in a subprocess, or with torch.autograd.grad "
                        "and no update, is not seen",
    "probe_failed": "nothing to change in the script; the verdict lacks this experiment's evidence",
    "loss_not_finite": "check the model's forward pass and the input data for overflow (log of <= 0, division "
                       "by ~0, unscaled targets)",
}
SOFTMAX = {("cross_entropy", "log_probabilities"): "remove the log_softmax before the loss (cross entropy applies it "
           "itself), or keep it and use nn.NLLLoss / F.nll_loss",
           ("nll_loss", "probabilities"): "NLL takes log-probabilities: use log_softmax instead of softmax "
           "(or feed the raw scores to nn.CrossEntropyLoss)",
           ("nll_loss", "scores"): "NLL takes log-probabilities: apply log_softmax(dim=1) first, or use "
           "nn.CrossEntropyLoss on the raw scores",
           ("binary_cross_entropy_with_logits", "probabilities"): "remove the sigmoid before the loss: "
           "nn.BCEWithLogitsLoss / F.binary_cross_entropy_with_logits apply it themselves (or keep it and use "
           "nn.BCELoss)"}
# F.softmax without dim (torch picks dim 0: the batch, or a size-1 axis where every output is exactly 1),
# or values in [0, 1] normalised over another axis
NO_DIM = ("give the softmax its dim and keep it out of the loss: F.softmax(x, dim=-1) for sampling only, and pass "
          "the raw logits to nn.CrossEntropyLoss / F.cross_entropy (it applies log_softmax itself)")
for _loss in ("cross_entropy", "nll_loss"):
    SOFTMAX[(_loss, "unit_interval")] = SOFTMAX[(_loss, "softmax_no_dim")] = NO_DIM
# A spec finding whose fault no spec key reaches (a python model's own code, a value already at its remedy)
NO_EDIT = {
    "data_not_normalized": "the inputs are off after preprocessing; check data.preprocess and the raw data's units",
    "init_loss_off": "the untrained model beats chance: pretrained weights, a label leak into the inputs, or "
                     "biases set to the class priors",
    "reg_does_not_raise_loss": "the penalized weights are ~zero at init (model.init: zeros?); the penalty acts once "
                               "they move",
    "cannot_overfit_tiny": "the lr is inside the range test's band: check model capacity (model.hidden), the labels "
                           "and the loss",
}


def _lr_code(f, host: ScriptHost, lower: bool) -> str:
    lr = f.facts.get("lr", host.lr)
    if lr is None:
        return ("lower" if lower else "raise") + " the learning rate 10x"
    s, factor = f.facts.get("suggested"), f.facts.get("factor") or 10
    new = _sig(s) if s and (s < lr if lower else s > lr) else _sig(lr / factor if lower else lr * factor)
    opt = f.facts.get("optimizer", host.optimizer)   # a GAN's other optimizer names its own
    return f"{'lower' if lower else 'raise'} the learning rate: torch.optim.{opt}(..., lr={lr:g}) -> lr={new:g}"


def code_change(f, host: ScriptHost) -> str:
    """The code change for ``f`` in a user's own script, chosen from its facts."""
    if f.id in ("lr_too_high", "lr_too_low"):
        return _lr_code(f, host, lower=f.id == "lr_too_high")
    origin = f.facts.get("origin") or {}
    if f.id == "loss_not_finite" and origin.get("input_nonfinite"):   # NaN/Inf came in with the data
        return ("the data holds non-finite values: check the inputs and targets for NaN/Inf before training "
                f"(first seen entering {origin.get('module') or origin.get('op') or 'the model'})")
    if f.id == "loss_not_finite" and origin.get("op") and origin.get("pass") == "forward":
        return (f"{origin['op']} in {origin.get('module') or 'the forward pass'} produced the first non-finite value: "
                "guard its input (e.g. log(x.clamp_min(1e-8)), a division by x + eps) or scale the targets")
    if f.id == "loss_not_finite" and not f.facts.get("at_init") and host.lr is not None:
        return (_lr_code(f, host, lower=True) + " and clip: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) "
                "before optimizer.step()")
    if f.id == "dead_relu" and host.lr is not None and not f.facts.get("at_init"):
        return f"{_lr_code(f, host, lower=True)}; nn.LeakyReLU instead of nn.ReLU; nn.init.kaiming_normal_"
    if f.id == "init_loss_off" and f.facts.get("below_chance"):
        return NO_EDIT["init_loss_off"]
    if f.id == "probe_failed" and f.facts.get("reason") == "budget":
        return "a larger --budget (seconds for the probes), or fewer steps in the script"
    if f.id == "exploding_gradients" and f.facts.get("max_norm_before_clip") is not None:   # clipping hid it
        return ("clipping hides the explosion from the step, not its cause: lower the lr 10x; "
                "nn.init.kaiming_normal_ / xavier_normal_ init; add normalisation layers")
    if f.id == "parameters_not_updated":
        return _not_updated_code(f)
    if f.id == "labels_look_random" and f.facts.get("sequence_targets"):
        return ("the targets do not follow the inputs: check that x and y are sliced/shuffled together (one index "
                "for both; y = the next tokens of the same x)")
    if f.id == "softmax_before_loss":
        return SOFTMAX.get((f.facts.get("loss"), f.facts.get("input")), CODE["softmax_before_loss"])
    return CODE.get(f.id, "")


def _not_updated_code(f) -> str:
    """parameters_not_updated: in no optimizer (the default), a second model no optimizer steps (a GAN's
    generator), a frozen model (``trainable``: a host that builds the optimizer from what requires grad),
    or parameters that never change."""
    if f.facts.get("models"):
        return "build each model's optimizer over its own parameters: torch.optim.X(that_model.parameters(), ...)"
    if "trainable" in f.facts:
        return ("unfreeze what should train (model.requires_grad_(True), or the layers to fine-tune) before the "
                "optimizer is built: the Trainer builds it from the parameters that require grad")
    if f.facts.get("unchanged"):
        return "check the optimizer's lr (> 0) and that it steps the model's own parameters (not a copy's)"
    return CODE["parameters_not_updated"]


# ---------------------------------------------------------------- the remedy and its text
def _get(spec, key: str) -> Any:
    node: Any = spec
    for part in key.split("."):
        node = getattr(node, part)
    return node.model_dump(mode="json") if hasattr(node, "model_dump") else node


def _show(v) -> str:
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
    edits = "; ".join(f"{k}: {_show(old)} -> {_show(new)}" for k, (old, new) in changes.items())
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
    init = lambda s: _better_init(s)  # noqa: E731
    norm = lambda s: {"model.norm": "batch"} if s.model.kind in BUILT_IN_NORM else {}  # noqa: E731
    clip = lambda s: {"train.clip_norm": 1.0} if s.train.clip_norm is None else {}  # noqa: E731
    paths = {"exploding_gradients": (init, norm, clip), "symmetric_weights": (init,),
             "init_loss_off": (init, norm), "loss_not_finite": (init, norm, clip)}
    dying = (init, norm, _relu)   # the signal dies with depth: init, then normalisation, then activation
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
