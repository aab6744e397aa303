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
