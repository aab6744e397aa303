"""LossTrace: the training loss per window, on the device. (see :mod:`babysitter.doctor.instruments`)."""

from __future__ import annotations

import torch

from babysitter.doctor.findings import json_safe
from babysitter.doctor.instruments.base import Instrument


class LossTrace(Instrument):
    """The training loss per window of ``every`` steps, kept on the device (no sync).

    Each step keeps a reference to its (detached) loss; no tensor op until the window closes. When a window
    closes (``trainer.step % every == 0``, and the partial window at fit end if n >= 2), with
    ``t = 0..n-1`` the step in the window:

        mean  = sum(l) / n                 std^2   = mean((l - mean)^2)
        slope = cov(t, l) / var(t)         noise^2 = std^2 - cov(t, l)^2 / var(t)
        var(t) = (n^2 - 1) / 12            (noise: the scatter around the window's straight-line
                                            trend, so a falling loss is not mistaken for noise)

    ``first_loss`` is the very first step's loss (about ln C at a good init).
    """

    FIELDS = ("mean", "std", "noise", "slope")

    def __init__(self, every: int = 25):
        super().__init__(every)
        self.names = list(self.FIELDS)
        self._window: list[torch.Tensor] = []       # this window's losses (0-dim, on the device)
        self._first: torch.Tensor | None = None

    def after_step(self, trainer):
        loss = trainer.loss.detach()
        if self._first is None:
            self._first = loss.float().clone()
        self._window.append(loss)
        if trainer.step % self.every == 0 or len(self._window) == self.every:
            self._close(trainer.step)

    def _close(self, step: int) -> None:
        n = len(self._window)
        w = torch.stack(self._window).float()
        mean = w.mean()
        d = w - mean
        var = (d * d).mean()
        if n > 1:
            t = torch.arange(n, device=w.device, dtype=w.dtype) - (n - 1) / 2.0
            tvar = (n * n - 1) / 12.0
            cov = (t * d).mean()
            slope, noise = cov / tvar, (var - cov * cov / tvar).clamp_min(0).sqrt()
        else:
            slope, noise = torch.zeros_like(mean), torch.zeros_like(mean)
        self.series.add(step, torch.stack((mean, var.sqrt(), noise, slope)))
        self._window = []

    def after_fit(self, trainer):
        if len(self._window) >= 2:
            self._close(trainer.step)
        self.series.flush()

    def summary(self) -> dict:
        cols = {k: self.series.column(j) for j, k in enumerate(self.FIELDS)}
        first = float(self._first) if self._first is not None else None
        return json_safe({"every": self.every, "steps": list(self.series.steps), **cols,
                        "first_loss": first, "first_window_loss": cols["mean"][0] if cols["mean"] else None})

    def state_dict(self) -> dict:
        return {**super().state_dict(), "window": list(self._window), "first": self._first}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._window, self._first = list(state["window"]), state["first"]
