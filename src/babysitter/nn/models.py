"""Models from the spec: linear, mlp, cnn, resnet, python (a user's factory).

Every builder has the signature ``build(spec: ModelSpec, sample_shape, num_classes) -> nn.Module``
and returns a network that maps ``x: (N, *sample_shape)`` to logits ``(N, num_classes)``.
Hidden layers follow the lecture's order: FC/conv -> batch norm -> nonlinearity -> dropout.
Sample shapes: ``(D,)`` vectors or 1-channel sequences, ``(C, L)`` sequences, ``(C, H, W)`` images.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
from collections import OrderedDict

import torch
from torch import nn

from babysitter.errors import BadInput
from babysitter.nn.activations import make_activation, pieces
from babysitter.nn.init import initialize, scale_head
from babysitter.nn.init_fit import dirac_
from babysitter.nn.layers import make_dropout, make_linear, make_pool


def _unit(i: int, kind: str, layer: nn.Module, width: int, spec, bn: type[nn.Module], dropout: bool = True) -> list:
    """[(name, module)] for hidden unit i: ``{kind}{i} -> bn{i} -> act{i} [-> drop{i}]``.

    ``layer`` must output ``width * pieces(activation)`` channels (maxout consumes k pieces).
    """
    parts = [(f"{kind}{i}", layer)]
    if spec.norm == "batch":
        parts.append((f"bn{i}", bn(width * pieces(spec.activation))))
    parts.append((f"act{i}", make_activation(spec.activation, width)))
    drop = make_dropout(spec.dropout_kind, spec.dropout) if dropout else None
    if drop is not None:
        parts.append((f"drop{i}", drop))
    return parts


def build_linear(spec, sample_shape, num_classes) -> nn.Module:
    """Softmax classifier: ``scores = W x + b`` on the flattened input."""
    d = math.prod(sample_shape)
    return nn.Sequential(OrderedDict(
        flatten=nn.Flatten(), head=make_linear(d, num_classes, spec.dropout_kind, spec.dropout)))


def build_mlp(spec, sample_shape, num_classes) -> nn.Module:
    """Fully connected net: ``[fc -> bn -> act -> dropout] x len(hidden) -> fc``."""
    k = pieces(spec.activation)
    d, parts = math.prod(sample_shape), [("flatten", nn.Flatten())]
    for i, width in enumerate(spec.hidden, 1):
        fc = make_linear(d, width * k, spec.dropout_kind, spec.dropout)
        parts += _unit(i, "fc", fc, width, spec, nn.BatchNorm1d)
        d = width
    parts.append(("head", make_linear(d, num_classes, spec.dropout_kind, spec.dropout)))
    return nn.Sequential(OrderedDict(parts))


def _conv_kind(sample_shape):
    """(Conv, BatchNorm, in_channels, prelude) chosen from the sample's shape."""
    if len(sample_shape) == 1:   # (L,): a 1-channel sequence such as MNIST-1D
        return nn.Conv1d, nn.BatchNorm1d, 1, [("unsqueeze", nn.Unflatten(1, (1, sample_shape[0])))]
    if len(sample_shape) == 2:   # (C, L)
        return nn.Conv1d, nn.BatchNorm1d, sample_shape[0], []
    if len(sample_shape) == 3:   # (C, H, W)
        return nn.Conv2d, nn.BatchNorm2d, sample_shape[0], []
    raise BadInput(f"model.kind cnn/resnet needs sequences (L,), (C, L) or images (C, H, W); got samples of shape {tuple(sample_shape)}")


def build_cnn(spec, sample_shape, num_classes) -> nn.Module:
    """ConvNet: per stage ``[conv3 -> bn -> act] x convs -> pool`` (``max`` 2x or ``fractional``
    1/sqrt(2)), then the head:
    ``flatten`` (default) or ``gap`` (global average pool), dropout, fc.

    1-D convolutions for sequences, 2-D for images (chosen from ``sample_shape``). Dropout acts
    only before the head (conv features are spatially correlated; the lecture drops FC units).
    """
    conv, bn, c_in, parts = _conv_kind(sample_shape)
    k, i = pieces(spec.activation), 0
    for stage, width in enumerate(spec.hidden, 1):
        for _ in range(spec.convs):
            i += 1
            parts += _unit(i, "conv", conv(c_in, width * k, 3, padding=1), width, spec, bn, dropout=False)
            c_in = width
        parts.append((f"pool{stage}", make_pool(spec.pool, 1 if conv is nn.Conv1d else 2)))
    if spec.head == "gap":
        parts.append(("gap", nn.AdaptiveAvgPool1d(1) if conv is nn.Conv1d else nn.AdaptiveAvgPool2d(1)))
    parts.append(("flatten", nn.Flatten()))
    features = _features(nn.Sequential(OrderedDict(parts)), sample_shape)
    drop = make_dropout(spec.dropout_kind, spec.dropout)
    if drop is not None:
        parts.append(("drop", drop))
    parts.append(("head", make_linear(features, num_classes, spec.dropout_kind, spec.dropout)))
    return nn.Sequential(OrderedDict(parts))


@torch.no_grad()
def _features(body: nn.Module, sample_shape) -> int:
    """Width of ``body``'s flattened output for one example (raises BadInput if it vanishes)."""
    try:
        return body.eval()(torch.zeros(2, *sample_shape)).shape[1]
    except RuntimeError as e:
        raise BadInput(f"model: samples of shape {tuple(sample_shape)} are too small for {len(body)} layers: "
                       + str(e).splitlines()[0]) from None


class ResidualBlock(nn.Module):
    """Basic residual block with stochastic depth (He et al. 2016; Huang et al. 2016).

    ``y = act(shortcut(x) + b * F(x))``, ``F = conv -> bn -> act -> conv -> bn``.
    Training: ``b ~ Bernoulli(p_l)`` once per batch; a dropped block (b = 0) skips F entirely.
    Test: ``b = p_l`` (every block runs, its branch scaled by its survival probability).
    """

    def __init__(self, conv, bn, c_in, c_out, stride, spec, survival: float = 1.0):
        super().__init__()
        norm = (lambda c: bn(c)) if spec.norm == "batch" else (lambda c: nn.Identity())
        self.branch = nn.Sequential(OrderedDict(
            conv1=conv(c_in, c_out, 3, stride=stride, padding=1), bn1=norm(c_out),
            act1=make_activation(spec.activation if spec.activation != "maxout" else "relu", c_out),
            conv2=conv(c_out, c_out, 3, padding=1), bn2=norm(c_out)))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            conv(c_in, c_out, 1, stride=stride), norm(c_out))
        self.act = make_activation(spec.activation if spec.activation != "maxout" else "relu", c_out)
        self.survival = survival

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.shortcut(x)
        if self.training:
            if self.survival < 1.0 and torch.rand(()) >= self.survival:
                return self.act(s)
            return self.act(s + self.branch(x))
        return self.act(s + self.survival * self.branch(x))


def survival_probabilities(blocks: int, last_drop: float) -> list[float]:
    """Stochastic depth's linear decay: ``p_l = 1 - l/L (1 - p_L)`` for l = 1..L, ``p_L = 1 - last_drop``."""
    return [1.0 - l / blocks * last_drop for l in range(1, blocks + 1)]


def build_resnet(spec, sample_shape, num_classes) -> nn.Module:
    """Small ResNet: stem conv -> 2 residual blocks per stage (``hidden`` widths, stride 2
    between stages) -> global average pool -> fc. ``stochastic_depth`` is the last block's drop
    probability, decaying linearly to 0 for the first block."""
    conv, bn, c_in, parts = _conv_kind(sample_shape)
    stem_act = spec.activation if spec.activation != "maxout" else "relu"
    parts += [("stem", conv(c_in, spec.hidden[0], 3, padding=1))]
    if spec.norm == "batch":
        parts.append(("stem_bn", bn(spec.hidden[0])))
    parts.append(("stem_act", make_activation(stem_act, spec.hidden[0])))
    strides = [(w, 1 if i == 0 or j else 2) for i, w in enumerate(spec.hidden) for j in range(2)]
    survival = survival_probabilities(len(strides), spec.stochastic_depth)
    c_in = spec.hidden[0]
    for l, ((width, stride), p) in enumerate(zip(strides, survival), 1):
        parts.append((f"block{l}", ResidualBlock(conv, bn, c_in, width, stride, spec, p)))
        c_in = width
    parts += [("gap", nn.AdaptiveAvgPool1d(1) if conv is nn.Conv1d else nn.AdaptiveAvgPool2d(1)),
              ("flatten", nn.Flatten())]
    drop = make_dropout(spec.dropout_kind, spec.dropout)
    if drop is not None:
        parts.append(("drop", drop))
    parts.append(("head", make_linear(c_in, num_classes, spec.dropout_kind, spec.dropout)))
    return nn.Sequential(OrderedDict(parts))


def _import_factory_module(name: str):
    """``importlib.import_module``; the public clinic's models moved into the package
    (``babysitter.clinic.models``): an older spec's ``clinic.models`` still loads when no ``clinic``
    package of the user's own is importable."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if name.split(".")[0] != "clinic" or e.name != "clinic":
            raise
        return importlib.import_module("babysitter." + name)


def build_python(spec, sample_shape, num_classes) -> nn.Module:
    """A user's factory ``"package.module:function"`` returning any nn.Module.

    The function is called with ``num_classes=`` and ``sample_shape=`` if it accepts them.
    The spec's ``init`` is NOT applied: the user's module keeps its own initialisation.
    """
    if not spec.factory or ":" not in spec.factory:
        raise BadInput("model.factory: kind 'python' needs 'package.module:function' (e.g. mymodels:make_cnn)")
    module_name, func_name = spec.factory.split(":", 1)
    if "" not in sys.path:
        sys.path.insert(0, "")  # a factory in the working directory
    try:
        fn = getattr(_import_factory_module(module_name), func_name)
    except Exception as e:  # noqa: BLE001  the user's module failed to import (or lacks the name): theirs to fix
        raise BadInput(f"model.factory: cannot load '{spec.factory}': {type(e).__name__}: {e}") from None
    if not callable(fn):
        raise BadInput(f"model.factory: '{spec.factory}' is a {type(fn).__name__}, not a function")
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in (("num_classes", num_classes), ("sample_shape", tuple(sample_shape))) if k in params}
    try:
        model = fn(**kwargs)
    except Exception as e:  # noqa: BLE001  the user's own code raised: name it, in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise BadInput(f"model.factory: '{spec.factory}' raised {type(e).__name__}: {first[:200]}") from None
    if not isinstance(model, nn.Module):
        raise BadInput(f"model.factory: '{spec.factory}' returned {type(model).__name__}, not a torch nn.Module")
    return model


MODELS = {"linear": build_linear, "mlp": build_mlp, "cnn": build_cnn, "resnet": build_resnet, "python": build_python}


def build_model(spec, sample_shape, num_classes: int) -> nn.Module:
    """Build and initialise the model the spec names (a python factory keeps its own init)."""
    model = MODELS[spec.kind](spec, tuple(sample_shape), num_classes)
    if spec.kind != "python":
        initialize(model, spec.init, spec.init_scale)
        if spec.head_init_scale is not None:
            scale_head(model, spec.head_init_scale)
        if spec.dirac:
            dirac_(model)
    return model


@torch.no_grad()
def check_fits(model: nn.Module, x: torch.Tensor, num_classes: int) -> None:
    """Run two examples through ``model``; raise BadInput on a data/model shape mismatch."""
    was_training = model.training
    model.eval()
    try:
        out = model(x[:2])
    except RuntimeError as e:
        raise BadInput(f"data/model shape mismatch: samples of shape {tuple(x.shape[1:])} do not fit the model: "
                       + str(e).splitlines()[0]) from None
    finally:
        model.train(was_training)
    if out.ndim != 2 or out.shape[1] != num_classes:
        raise BadInput(f"data/model shape mismatch: the model outputs {tuple(out.shape[1:])} per example, "
                       f"the data has {num_classes} classes")
