"""RegShare: the penalty's share of the objective. (see :mod:`babysitter.doctor.instruments`)."""

from __future__ import annotations

import torch

from babysitter.doctor.findings import json_safe
from babysitter.doctor.instruments.base import Instrument


def decoupled(optimizer, group: dict) -> bool:
    """AdamW's weight decay (Loshchilov & Hutter 2019) shrinks the weights outside the gradient,
    ``p -= lr wd p``: it is no term of the objective, so it has no share of it."""
    import torch

    return isinstance(optimizer, torch.optim.AdamW) or bool(group.get("decoupled_weight_decay"))


class RegShare(Instrument):
    """Share of the regularisation penalty in the objective on due steps:
    ``share = R / (L_data + R)``, ``R = regularize (l1/l2 penalty) + sum_groups wd/2 ||p||^2``
    (torch's coupled weight decay ``g += wd p`` is the gradient of ``wd/2 ||p||^2``; AdamW's decoupled
    decay is not in the objective: :func:`decoupled`), read after
    the step (the step's loss, the updated weights). Records nothing when the run has no
    regularisation. At the penalty/data equilibrium the share falls however strong the penalty is,
    so :mod:`~babysitter.doctor.readers.curves` uses its largest value (usually the first due step)."""

    def __init__(self, every: int = 25):
        super().__init__(every)
        self.names = ["share", "penalty", "loss"]

    def after_step(self, trainer):
        if self.due(trainer.step - 1):
            self._record(trainer)

    @torch.no_grad()
    def _record(self, trainer):
        decayed = [g for g in trainer.optimizer.param_groups if (g.get("weight_decay") or 0.0) > 0
                   and not decoupled(trainer.optimizer, g)]
        if not trainer.penalty and not decayed:
            return
        loss = trainer.loss.detach().float()
        pen = trainer.penalty(trainer.weights).float() if trainer.penalty else loss.new_zeros(())
        for g in decayed:
            norms = torch._foreach_norm([p.detach() for p in g["params"]])
            pen = pen + g["weight_decay"] / 2 * torch.stack(norms).float().square().sum()
        self.series.add(trainer.step, torch.stack((pen / (loss + pen), pen, loss)))

    def summary(self) -> dict:
        cols = {k: self.series.column(j) for j, k in enumerate(self.names)}
        return json_safe({"every": self.every, "steps": list(self.series.steps), **cols,
                        "active": bool(self.series.steps), "last_share": cols["share"][-1] if cols["share"] else None})
