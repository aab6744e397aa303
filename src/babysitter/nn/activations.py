"""Activation functions by their lecture names (CS231n, Training Neural Networks I).

Each entry of ``ACTIVATIONS`` builds the nonlinearity for a layer of ``width`` units. ``PIECES``
says how many pre-activations a unit needs: Maxout takes the max of k linear pieces, so the layer
before it must produce ``k * width`` outputs (k times the parameters).
"""

from __future__ import annotations

import torch
from torch import nn


class Maxout(nn.Module):
    """Maxout (Goodfellow et al. 2013): ``max(w_1^T x + b_1, ..., w_k^T x + b_k)``.

    Input ``(N, k*C, ...)`` holding the k linear pieces of C units side by side
    (unit c's pieces are channels ``c*k .. c*k+k-1``); output ``(N, C, ...)``.
    Default k = 2, which doubles the parameters of the layer that feeds it.
    """

    def __init__(self, pieces: int = 2):
        super().__init__()
        if pieces < 2:
            raise ValueError(f"maxout needs at least 2 pieces, got {pieces}")
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, kc = x.shape[:2]
        if kc % self.pieces:
            raise ValueError(f"maxout: {kc} channels do not split into {self.pieces} pieces")
        return x.reshape(n, kc // self.pieces, self.pieces, *x.shape[2:]).amax(dim=2)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


ACTIVATIONS = {
    "sigmoid": lambda width: nn.Sigmoid(),                       # 1 / (1 + e^-x)
    "tanh": lambda width: nn.Tanh(),                             # tanh(x)
    "relu": lambda width: nn.ReLU(),                             # max(0, x)
    "leaky_relu": lambda width: nn.LeakyReLU(0.01),              # max(0.01x, x)
    "prelu": lambda width: nn.PReLU(width, init=0.25),           # max(a x, x), a learned per unit
    "elu": lambda width: nn.ELU(alpha=1.0),                      # x if x > 0 else a(e^x - 1), a = 1
    "selu": lambda width: nn.SELU(),                             # l * elu(x, a), l=1.0507, a=1.6733
    "maxout": lambda width: Maxout(2),                           # max of k = 2 linear pieces
}

PIECES = {"maxout": 2}


def make_activation(name: str, width: int) -> nn.Module:
    return ACTIVATIONS[name](width)


def pieces(name: str) -> int:
    """How many pre-activations each unit of this activation consumes (2 for maxout, else 1)."""
    return PIECES.get(name, 1)
