"""Weight initialisations by their lecture names (CS231n, Training Neural Networks I).

For a weight of fan-in ``n_in`` and fan-out ``n_out`` (``fan_avg = (n_in + n_out) / 2``):

==============  ==========================================  =====================
name            distribution                                 reference
==============  ==========================================  =====================
zeros           W = 0 (the symmetry failure)
small           N(0, 0.01^2)   (``init_scale`` overrides 0.01)
normal          N(0, 1)        (``init_scale`` overrides 1)
xavier          N(0, 1/fan_avg)                              Glorot & Bengio 2010
xavier_uniform  U(-r, r), r = sqrt(3/fan_avg)                Glorot & Bengio 2010
he              N(0, 2/n_in)                                 He et al. 2015
lecun           N(0, 1/n_in)                                 LeCun et al. 1998
==============  ==========================================  =====================

Biases start at zero; batch-norm scales at one and shifts at zero.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd


def _fans(w: torch.Tensor) -> tuple[int, int]:
    return nn.init._calculate_fan_in_and_fan_out(w)


def _normal(std: float):
    def init(w: torch.Tensor, scale: float | None) -> None:
        nn.init.normal_(w, 0.0, std if scale is None else scale)
    return init


def _xavier(w, scale):
    fan_in, fan_out = _fans(w)
    nn.init.normal_(w, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))


def _xavier_uniform(w, scale):
    fan_in, fan_out = _fans(w)
    r = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(w, -r, r)


def _he(w, scale):
    nn.init.normal_(w, 0.0, math.sqrt(2.0 / _fans(w)[0]))


def _lecun(w, scale):
    nn.init.normal_(w, 0.0, math.sqrt(1.0 / _fans(w)[0]))


INITS = {
    "zeros": lambda w, scale: nn.init.zeros_(w),
    "small": _normal(0.01),
    "normal": _normal(1.0),
    "xavier": _xavier,
    "xavier_uniform": _xavier_uniform,
    "he": _he,
    "lecun": _lecun,
}

WEIGHTED = (nn.Linear, _ConvNd)  # the layers with a weight matrix / kernel: init, penalties, instruments


@torch.no_grad()
def scale_head(model: nn.Module, scale: float) -> nn.Module:
    """The output layer's weights x ``scale`` (its bias is 0): class scores ~0 at init, so the loss
    starts at ~ln C (CS231n: a fitting init keeps the hidden signal's scale, which leaves the scores
    of a He-initialised last layer at std ~1.4). The output layer is the model's last Linear/Conv
    in module order (ours: built in forward order)."""
    last = [m for m in model.modules() if isinstance(m, WEIGHTED)][-1]
    last.weight.mul_(scale)
    return model


def weighted_layers(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, weight)`` of every Linear/Conv layer with a trainable weight (:func:`layer_weight`), in
    module order (for our nn.Sequential models and most user modules that is the forward order)."""
    found = [(name or type(m).__name__, layer_weight(m)) for name, m in model.named_modules() if isinstance(m, WEIGHTED)]
    return [(name, w) for name, w in found if w is not None and w.requires_grad]


def layer_weight(m: nn.Module) -> torch.Tensor | None:
    """The trainable tensor behind a layer's weight: ``m.weight``; or, where weight or spectral
    normalisation recomputes ``m.weight`` from other parameters on every forward (a snapshot of it
    never gets a gradient and never changes), the one of the weight's shape among those (weight_norm's
    direction v, spectral_norm's original)."""
    w = m._parameters.get("weight")
    if w is not None or not isinstance(getattr(m, "weight", None), torch.Tensor):
        return w
    shape = m.weight.shape
    plist = getattr(getattr(m, "parametrizations", None), "weight", None)   # torch.nn.utils.parametrizations
    found = (list(plist.parameters(recurse=False)) if plist is not None
             else [p for n, p in m._parameters.items() if n.startswith("weight")])   # the old weight_norm's g and v
    return next((p for p in found if p is not None and p.shape == shape), None)


@torch.no_grad()
def initialize(model: nn.Module, name: str, scale: float | None = None) -> nn.Module:
    """Initialise every Linear/Conv weight of ``model`` with ``name``; biases to zero."""
    init = INITS[name]
    for m in model.modules():
        if isinstance(m, WEIGHTED):
            init(m.weight, scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model
