"""LossTrace: the training loss per window, on the device. (see :mod:`babysitter.doctor.instruments`)."""

from __future__ import annotations

import math

import torch

from babysitter.doctor.findings import json_safe
from babysitter.doctor.instruments.base import Instrument


class LossTrace(Instrument):
    """The training loss per window of ``every`` steps, kept on the device (no sync).

    Each step keeps a reference to its (detached) loss; no tensor op until the windows are read
    (``settle``: by ``summary``/``state_dict``, one transfer for all closed windows). A window
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
        self._closed: list[tuple[int, list[torch.Tensor]]] = []   # (step, losses) not yet read
        self._first: torch.Tensor | None = None

    def after_step(self, trainer):
        loss = trainer.loss.detach()
        if self._first is None:
            self._first = loss.float().clone()
        self._window.append(loss)
        if trainer.step % self.every == 0 or len(self._window) == self.every:
            self._closed.append((trainer.step, self._window))
            self._window = []

    def backlog(self) -> int:
        return len(self._closed)

    def settle(self) -> None:
        """The closed windows' statistics, all read in one transfer (a window's 25 tiny tensor ops,
        done on every window, cost more than the step's hooks together)."""
        if not self._closed:
            return
        flat = torch.stack([x for _, w in self._closed for x in w]).tolist()
        i = 0
        for step, w in self._closed:
            n = len(w)
            self.series.steps.append(step)
            self.series.values.append(window_stats(flat[i:i + n]))
            i += n
        self._closed = []
        super().settle()

    def after_fit(self, trainer):
        if len(self._window) >= 2:
            self._closed.append((trainer.step, self._window))
            self._window = []
        self.settle()

    def summary(self) -> dict:
        self.settle()
        cols = {k: self.series.column(j) for j, k in enumerate(self.FIELDS)}
        first = float(self._first) if self._first is not None else None
        return json_safe({"every": self.every, "steps": list(self.series.steps), **cols,
                        "first_loss": first, "first_window_loss": cols["mean"][0] if cols["mean"] else None})

    def state_dict(self) -> dict:
        return {**super().state_dict(), "window": list(self._window), "first": self._first}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._window, self._closed, self._first = list(state["window"]), [], state["first"]


def window_stats(losses: list[float]) -> list[float]:
    """[mean, std, noise, slope] of one window (the class docstring's formulas), in float64;
    a NaN/inf loss makes them NaN/inf as torch's ops would."""
    n = len(losses)
    mean = sum(losses) / n
    d = [x - mean for x in losses]
    var = sum(x * x for x in d) / n
    if n < 2:
        return [mean, math.sqrt(var), 0.0, 0.0]
    tvar = (n * n - 1) / 12.0
    cov = sum((t - (n - 1) / 2.0) * x for t, x in enumerate(d)) / n
    return [mean, math.sqrt(var), math.sqrt(max(var - cov * cov / tvar, 0.0)), cov / tvar]
