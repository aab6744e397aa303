"""GradNorms: per-layer gradient norms. (see :mod:`babysitter.doctor.instruments`)."""

from __future__ import annotations

import math

import torch

from babysitter.doctor.findings import json_safe
from babysitter.doctor.instruments.base import Instrument, _nanmedian, weighted_layers


class GradNorms(Instrument):
    """Per-layer gradient norm ``||dL/dW||_2`` on due steps (after backward, before clipping).

    ``first_last``: first layer's norm / last layer's norm (module order) at each due step; the
    vanishing-gradient picture is a first layer whose gradient is orders of magnitude below the
    last one's. ``growth``: total norm at the last due step / at the first.
    """

    def __init__(self, every: int = 25):
        super().__init__(every)
        self.layers: list[tuple[str, torch.Tensor]] = []

    def before_fit(self, trainer):
        self.layers = weighted_layers(trainer.model)
        self.names = [n for n, _ in self.layers]

    def after_backward(self, trainer):
        if self.layers and self.due(trainer.step):
            grads = [w.grad if w.grad is not None else w.new_zeros(()) for _, w in self.layers]
            self.series.add(trainer.step + 1, torch.stack(torch._foreach_norm(grads)))

    def summary(self) -> dict:
        s = self._layer_summary("norm", self.per_layer())
        rows = self.series.values
        ratio = [r[0] / r[-1] if r[-1] > 0 else math.nan for r in rows]
        total = [math.sqrt(sum(x * x for x in r)) for r in rows]
        s["first_last"] = json_safe(ratio)
        s["first_last_median"] = _nanmedian(ratio)
        s["total"] = json_safe(total)
        s["growth"] = json_safe(total[-1] / total[0]) if rows and total[0] > 0 else None
        s["max_total"] = max((t for t in total if math.isfinite(t)), default=None)
        return s
