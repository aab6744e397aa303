"""The instruments' base (Cockpit's ``quantities/`` shape): :class:`Instrument` with its schedule
(``every``: which steps it reads) and a :class:`Series` record, and the layer/activation lookups.

An instrument is a :class:`~babysitter.train.events.Callback` of a *host*: our Trainer, a watched
script (:mod:`babysitter.doctor.watch`) or a Lightning run. The host is anything with the attributes
the hooks read: ``model`` (nn.Module), ``optimizer`` (torch.optim.Optimizer), ``step`` (steps
taken), ``loss`` (the step's loss, 0-dim tensor), ``steps_per_epoch``, ``penalty`` (callable on
``weights`` or None), ``weights`` and ``stop_reason``; it calls ``before_fit``, ``after_backward``,
``after_step``, ``after_epoch`` and ``after_fit`` at those moments (from torch's own hooks in a
watched script).
"""

from __future__ import annotations

import math
from statistics import median

import torch
from torch import nn

from babysitter.doctor.findings import json_safe
from babysitter.nn.activations import Maxout
from babysitter.nn.init import WEIGHTED  # noqa: F401  (read here by the instruments)
from babysitter.train.events import Callback

RELU = (nn.ReLU, nn.ReLU6)                                        # zero output -> zero gradient: can die
RELU_LIKE = (nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU)    # positive part identity, leaky negative
SATURATING = {nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}
SETTLE_AFTER = 256   # due steps kept on the device before an epoch's end reads them (else: when read)


from babysitter.nn.init import weighted_layers  # noqa: E402,F401  (the engine's; the instruments read it here)


def activation_kind(m: nn.Module) -> str | None:
    """'relu' | 'relu_like' | 'tanh' | 'sigmoid' | 'maxout' | None (not an activation module)."""
    if isinstance(m, RELU):
        return "relu"
    if isinstance(m, RELU_LIKE):
        return "relu_like"
    for t, kind in SATURATING.items():
        if isinstance(m, t):
            return kind
    return "maxout" if isinstance(m, Maxout) else None


def _nanmedian(values) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return median(vals) if vals else None


class Series:
    """Per-layer values at due steps: device tensors ``(L,)`` until read, then python lists.

    ``flush()`` stacks the pending tensors and reads them in one transfer (one sync)."""

    def __init__(self):
        self.steps: list[int] = []
        self.values: list[list[float]] = []     # (due steps, L)
        self._pending: list[tuple[int, torch.Tensor]] = []

    def add(self, step: int, values: torch.Tensor) -> None:
        self._pending.append((step, values.detach()))

    def flush(self) -> None:
        if self._pending:
            self.values += torch.stack([v for _, v in self._pending]).cpu().double().tolist()
            self.steps += [s for s, _ in self._pending]
            self._pending.clear()

    def column(self, j: int) -> list[float]:
        self.flush()
        return [row[j] for row in self.values]

    def state_dict(self) -> dict:
        self.flush()
        return {"steps": list(self.steps), "values": [list(r) for r in self.values]}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.values, self._pending = list(state["steps"]), [list(r) for r in state["values"]], []


class Instrument(Callback):
    """Base of the instruments: ``every``, the due-step test, a :class:`Series` record."""

    def __init__(self, every: int = 25):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"{type(self).__name__}: every must be a positive integer, got {every!r}")
        self.every = every
        self.names: list[str] = []
        self.series = Series()

    def due(self, index: int) -> bool:
        """Is the step with 0-based index ``index`` due?"""
        return index % self.every == 0

    def backlog(self) -> int:
        """Due steps recorded on the device and not yet read."""
        return len(self.series._pending)

    def settle(self) -> None:
        """Read what is pending into ``series`` (one transfer); every reader calls it first."""
        self.series.flush()

    def after_epoch(self, trainer):
        if self.backlog() >= SETTLE_AFTER:
            self.settle()

    def per_layer(self, j: int = 0, width: int = 1) -> dict[str, list]:
        """{layer: [value at each due step]} for column ``j`` of ``width`` columns per layer."""
        self.settle()
        return {n: [row[i * width + j] for row in self.series.values] for i, n in enumerate(self.names)}

    def summary(self) -> dict:
        raise NotImplementedError

    def state_dict(self) -> dict:
        self.settle()
        return {"names": list(self.names), "series": self.series.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.names = list(state["names"])
        self.series.load_state_dict(state["series"])

    def _layer_summary(self, key: str, values: dict[str, list]) -> dict:
        medians = {n: _nanmedian(v) for n, v in values.items()}
        flat = [x for v in values.values() for x in v]
        return json_safe({"every": self.every, "steps": list(self.series.steps), "layers": list(self.names),
                        key: values, "median": medians,
                        "non_finite": sum(1 for x in flat if x is not None and not math.isfinite(x))})


def _lastjson_safe(values: list) -> float | None:
    for v in reversed(values):
        if v is not None and math.isfinite(v):
            return v
    return None
