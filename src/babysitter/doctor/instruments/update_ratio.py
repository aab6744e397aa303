"""UpdateRatio: the update/weight ratio per layer. (see :mod:`babysitter.doctor.instruments`)."""

from __future__ import annotations

import torch

from babysitter.doctor.findings import json_safe
from babysitter.doctor.instruments.base import Instrument, _nanmedian, weighted_layers


class UpdateRatio(Instrument):
    """Update/weight ratio ``||W_after - W_before||_2 / ||W_before||_2`` of a due step, per layer.

    The lecture's rule of thumb: about 1e-3. ``W_before`` is copied right before the due step
    (after the previous step, or at fit start), so closure optimizers (L-BFGS, Newton) are measured
    too and the ratio includes constraints (max-norm). A zero weight gives NaN (undefined).
    """

    def __init__(self, every: int = 25):
        super().__init__(every)
        self.layers: list[tuple[str, torch.Tensor]] = []
        self._before: list[torch.Tensor] | None = None

    def before_fit(self, trainer):
        self.layers = weighted_layers(trainer.model)
        self.names = [n for n, _ in self.layers]
        self._snapshot(trainer)

    def _snapshot(self, trainer):
        due = self.layers and self.due(trainer.step)
        self._before = torch._foreach_mul([w.detach() for _, w in self.layers], 1.0) if due else None   # copies

    def after_step(self, trainer):
        if self._before is not None and self.layers:
            after = [w.detach() for _, w in self.layers]
            norms = torch.stack(torch._foreach_norm(torch._foreach_sub(after, self._before) + self._before))
            num, den = norms.chunk(2)
            self.series.add(trainer.step, torch.where(den > 0, num / den, torch.nan))
        self._snapshot(trainer)

    def summary(self) -> dict:
        s = self._layer_summary("ratio", self.per_layer())
        per_step = [_nanmedian(row) for row in self.series.values]
        s["step_median"] = json_safe(per_step)
        s["overall_median"] = _nanmedian(per_step)
        return s
