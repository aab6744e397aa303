"""Layers torch lacks: classic dropout, DropConnect, and the dropout registry.

Convention: ``p`` is the DROP probability (torch's convention). CS231n's notes use ``p`` for the
KEEP probability; here keep = 1 - p.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ClassicDropout(nn.Module):
    """Dropout as first published (Srivastava et al. 2014), without inverted scaling.

    Training: ``y = x * m``, ``m ~ Bernoulli(1 - p)`` per element (``E[y] = (1-p) x``).
    Test:     ``y = (1 - p) x`` — scaled by the keep probability so it matches that expectation.
    Shapes: any; output has the input's shape.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - self.p
        if not self.training:
            return x * keep
        return x * torch.bernoulli(torch.full_like(x, keep))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropConnectLinear(nn.Linear):
    """DropConnect (Wan et al. 2013): drop WEIGHTS, not activations.

    Training: ``y = x (W * M)^T + b``, ``M ~ Bernoulli(1 - p)`` per weight, one mask per batch.
    Test:     ``y = x ((1 - p) W)^T + b`` — the expected weights (mean-field approximation).
    Shapes: ``x: (N, in_features) -> (N, out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, p: float = 0.5, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropconnect probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - self.p
        if self.training:
            w = self.weight * torch.bernoulli(torch.full_like(self.weight, keep))
        else:
            w = self.weight * keep
        return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", p={self.p}"


class FractionalMaxPool1d(nn.Module):
    """Fractional max pooling (Graham 2014) for sequences, via torch's 2-D op on ``(N, C, 1, L)``.

    Pools ``x: (N, C, L)`` with 2-wide windows at pseudo-random positions to
    ``(N, C, floor(L * ratio))``, ratio default 1/sqrt(2) (a gentler reduction than 2x max pooling).
    """

    def __init__(self, ratio: float = 2 ** -0.5):
        super().__init__()
        self.ratio = ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = max(1, int(x.shape[-1] * self.ratio))
        return F.fractional_max_pool2d(x.unsqueeze(2), kernel_size=(1, 2), output_size=(1, out)).squeeze(2)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio:.4f}"


def make_pool(kind: str, dims: int) -> nn.Module:
    """``max``: 2x2 (or 2-wide) max pooling; ``fractional``: torch's FractionalMaxPool2d with
    output ratio 1/sqrt(2) (FractionalMaxPool1d above for sequences)."""
    if kind == "max":
        return nn.MaxPool1d(2) if dims == 1 else nn.MaxPool2d(2)
    ratio = 2 ** -0.5
    return FractionalMaxPool1d(ratio) if dims == 1 else nn.FractionalMaxPool2d(2, output_ratio=(ratio, ratio))


# inverted: torch's nn.Dropout — training y = x * m / (1 - p), test y = x (no change at test time).
DROPOUTS = {"inverted": nn.Dropout, "classic": ClassicDropout, "dropconnect": None}


def make_dropout(kind: str, p: float) -> nn.Module | None:
    """The activation-dropout module for ``kind`` (None when p = 0 or kind drops weights)."""
    if p == 0.0 or DROPOUTS[kind] is None:
        return None
    return DROPOUTS[kind](p)


def make_linear(in_f: int, out_f: int, dropout_kind: str, p: float) -> nn.Linear:
    """A Linear layer, or DropConnectLinear when the dropout kind drops weights."""
    if dropout_kind == "dropconnect" and p > 0.0:
        return DropConnectLinear(in_f, out_f, p)
    return nn.Linear(in_f, out_f)
