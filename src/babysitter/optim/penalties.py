"""Regularisation penalties and constraints (CS231n, Neural Networks 2: Regularization).

Penalties apply to weights of Linear/Conv layers (not biases, not batch-norm parameters):

L2           R(W) = l2 * sum(W^2)
L1           R(W) = l1 * sum(|W|)
elastic net  R(W) = l2 * sum(W^2) + l1 * sum(|W|)     (both keys set)
max-norm     after every step, each unit's incoming weight vector w is rescaled so ||w||_2 <= r
"""

from __future__ import annotations

import torch
from torch import nn

from babysitter.nn.init import WEIGHTED


def penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weights the penalties act on: every Linear/Conv weight, no biases or BN parameters."""
    return [m.weight for m in model.modules() if isinstance(m, WEIGHTED)]


class Penalty:
    """``penalty(model) -> scalar tensor`` = l1 * sum|W| + l2 * sum W^2 over penalized weights."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        if l1 < 0 or l2 < 0:
            raise ValueError(f"penalty strengths must be >= 0, got l1={l1}, l2={l2}")
        self.l1, self.l2 = l1, l2

    def __bool__(self) -> bool:
        return self.l1 > 0 or self.l2 > 0

    def __call__(self, weights: list[torch.Tensor]) -> torch.Tensor:
        total = weights[0].new_zeros(()) if weights else torch.zeros(())   # a model may have no Linear/Conv
        for w in weights:
            if self.l2:
                total = total + self.l2 * w.pow(2).sum()
            if self.l1:
                total = total + self.l1 * w.abs().sum()
        return total


@torch.no_grad()
def apply_max_norm(weights: list[torch.Tensor], r: float) -> None:
    """Max-norm constraint: for each unit (row of W, output channel of a conv),
    ``w <- w * min(1, r / ||w||_2)``. A frozen weight (``requires_grad`` False, e.g. a transferred
    layer kept fixed) is left as it is -- checked at every call, so a layer unfrozen later is constrained again."""
    for w in weights:
        if not w.requires_grad:
            continue
        norms = w.flatten(1).norm(dim=1).clamp_min(1e-12)
        w.mul_((r / norms).clamp(max=1.0).view(-1, *([1] * (w.ndim - 1))))
