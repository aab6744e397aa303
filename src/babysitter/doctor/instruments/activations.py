"""Activations: activation statistics through forward hooks. (see :mod:`babysitter.doctor.instruments`)."""

from __future__ import annotations

from collections import deque

from torch import nn

import math

import torch

from babysitter.doctor.findings import json_safe
from babysitter.doctor.instruments.base import Instrument, _lastjson_safe, activation_kind


class Activations(Instrument):
    """Forward hooks on the activation modules (ReLU family, Tanh, Sigmoid, Maxout), found by type
    in any module; functional activations (``F.relu``) are invisible to them.

    On a due training step, per module and output ``a: (N, C, ...)`` (units/channels on dim 1):
    ``mean``, ``std``, ``saturated`` (tanh: ``|a| > 0.99``; sigmoid: ``a < 0.01 or a > 0.99``; else 0)
    and, for the ReLU family, ``dead``: the fraction of units with no positive output on any example
    of the last ``window`` due batches (NaN for tanh/sigmoid/maxout). The hooks are registered only
    for the due steps (removed after them), and skip eval-mode calls (the validation pass).
    """

    STATS = ("mean", "std", "saturated", "dead")

    def __init__(self, every: int = 25, window: int = 4):
        super().__init__(every)
        if window < 1:
            raise ValueError(f"Activations: window must be >= 1, got {window}")
        self.window = window
        self.kinds: dict[str, str] = {}
        self._handles: list = []
        self._modules: list[tuple[str, str, nn.Module]] = []
        self._current: dict[str, torch.Tensor] = {}
        self._active: dict[str, torch.Tensor] = {}
        self._recent: dict[str, deque] = {}

    def before_fit(self, trainer):
        self.remove()
        self.names, self.kinds, self._modules = [], {}, []
        for name, m in trainer.model.named_modules():
            kind = activation_kind(m)
            if kind is not None:
                name = name or type(m).__name__
                self.names.append(name)
                self.kinds[name] = kind
                self._recent.setdefault(name, deque(maxlen=self.window))
                self._modules.append((name, kind, m))
        self._arm(trainer.step)

    def _arm(self, index: int) -> None:
        """Hooks exist only while a due step runs: steps that are not due pay nothing."""
        if self.due(index) and not self._handles:
            self._handles = [m.register_forward_hook(self._hook(name, kind)) for name, kind, m in self._modules]
        elif not self.due(index) and self._handles:
            self.remove()

    def _hook(self, name: str, kind: str):
        def hook(module, inputs, output):
            if module.training and isinstance(output, torch.Tensor):   # not the validation pass
                self._observe(name, kind, output.detach())
        return hook

    def _observe(self, name: str, kind: str, a: torch.Tensor) -> None:
        a = a.float()
        n = a.numel()
        mean = a.mean()                 # two plain passes: torch.std_mean (Welford) is ~10x slower on CPU
        std = torch.linalg.vector_norm(a - mean) / math.sqrt(max(n - 1, 1))   # unbiased, as torch.std
        if kind == "tanh":
            sat = torch.count_nonzero(a.abs() > 0.99) / n
        elif kind == "sigmoid":
            sat = torch.count_nonzero((a < 0.01) | (a > 0.99)) / n
        else:
            sat = a.new_zeros(())
        self._current[name] = torch.stack((mean, std, sat.to(mean.dtype)))
        if kind in ("relu", "relu_like") and a.ndim >= 2:
            peak = a.amax(dim=tuple(range(2, a.ndim))) if a.ndim > 2 else a   # (N, C): reduce the long axes first
            active = peak.amax(0) > 0                          # (C,): unit positive on some example
            prev = self._active.get(name)                      # a module called twice in one step
            self._active[name] = active if prev is None or prev.shape != active.shape else prev | active

    def after_step(self, trainer):
        if self._handles:
            rows = []
            for name in self.names:
                stats = self._current.get(name)
                if stats is None:                              # not called this step (e.g. a dropped block)
                    stats = torch.full((3,), math.nan, device=trainer.loss.device)
                dead = stats.new_full((1,), math.nan)
                active = self._active.get(name)
                if active is not None:
                    recent = self._recent[name]
                    if recent and recent[-1].shape != active.shape:
                        recent.clear()
                    recent.append(active)
                    ever = torch.stack(tuple(recent)).any(0)
                    dead = (1.0 - ever.float().mean()).reshape(1)
                rows += (stats, dead)
            self.series.add(trainer.step, torch.cat(rows))
        self._current, self._active = {}, {}
        self._arm(trainer.step)

    def after_fit(self, trainer):
        self.remove()
        self.series.flush()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def summary(self) -> dict:
        w = len(self.STATS)
        stats = {k: self.per_layer(j, w) for j, k in enumerate(self.STATS)}
        last = {k: {n: _lastjson_safe(v) for n, v in stats[k].items()} for k in self.STATS}
        return json_safe({"every": self.every, "window": self.window, "steps": list(self.series.steps),
                        "layers": list(self.names), "kinds": dict(self.kinds), **stats,
                        "last": last})

    def state_dict(self) -> dict:
        return {**super().state_dict(), "kinds": dict(self.kinds)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.kinds = dict(state.get("kinds", {}))
