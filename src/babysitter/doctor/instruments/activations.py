"""Activations: activation statistics through forward hooks. (see :mod:`babysitter.doctor.instruments`)."""

from __future__ import annotations

from collections import deque

from torch import nn

import math

import torch

from babysitter.doctor.findings import json_safe
from babysitter.doctor.instruments.base import Instrument, _lastjson_safe, activation_kind
from babysitter.nn.init import WEIGHTED


class Activations(Instrument):
    """Forward hooks on the activation modules (ReLU family, Tanh, Sigmoid, Maxout), found by type
    in any module. Functional activations (``F.relu``) are invisible to module hooks, so a model
    with no ReLU-family module is read at the inputs of its Linear/Conv layers instead ("input of
    fc2"): a unit whose input to the next weighted layer is exactly 0 on every example of the last
    ``window`` due batches is dead -- only a ReLU's zero does that (tanh, sigmoid, a leaky slope or
    a linear stack give exact zeros on no example), and a dead ReLU's zero survives pooling and
    flattening. The layer that takes the data (the first weighted layer called) is skipped: raw
    inputs hold exact zeros of their own (image borders); so is a Linear called right after a conv
    (its inputs are flattened positions: a border position that sees only the constant background
    is 0 on every example in a channel that is alive elsewhere).

    On a due training step, per module and output ``a: (N, C, ...)`` (units/channels on dim 1):
    ``mean``, ``std``, ``saturated`` (tanh: ``|a| > 0.99``; sigmoid: ``a < 0.01 or a > 0.99``; else 0)
    and, for the ReLU family, ``dead``: the fraction of units with no positive output on any example
    of the last ``window`` due batches (NaN for tanh/sigmoid/maxout). The hooks are registered only
    for the due steps (removed after them), and skip eval-mode calls (the validation pass) and calls
    under ``no_grad`` (a language model sampling in train mode after its last step).
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
        self._inputs: list[tuple[str, nn.Module]] = []   # (name, layer): read at the layer's input
        self._data_layer: int | None = None               # id() of the first weighted layer called
        self._last_called: nn.Module | None = None        # the weighted layer called before, this step
        self._due: list[tuple[int, list, list]] = []       # (step, stats per layer, window per layer): unread

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
        self._inputs, self._data_layer = [], None
        if not any(k in ("relu", "relu_like") for k in self.kinds.values()):
            for name, m in trainer.model.named_modules():
                if isinstance(m, WEIGHTED):
                    name = f"input of {name or type(m).__name__}"
                    self.names.append(name)
                    self.kinds[name] = "relu"
                    self._recent.setdefault(name, deque(maxlen=self.window))
                    self._inputs.append((name, m))
        self._arm(trainer.step)

    def _arm(self, index: int) -> None:
        """Hooks exist only while a due step runs: steps that are not due pay nothing."""
        if self.due(index) and not self._handles:
            self._handles = [m.register_forward_hook(self._hook(name, kind)) for name, kind, m in self._modules]
            self._handles += [m.register_forward_pre_hook(self._input_hook(name)) for name, m in self._inputs]
        elif not self.due(index) and self._handles:
            self.remove()

    def _hook(self, name: str, kind: str):
        def hook(module, inputs, output):
            # a training pass only: not the validation pass, nor a train-mode call under no_grad (sampling)
            if module.training and torch.is_grad_enabled() and isinstance(output, torch.Tensor):
                self._observe(name, kind, output.detach())
        return hook

    def _input_hook(self, name: str):
        def hook(module, inputs):
            if not (module.training and torch.is_grad_enabled() and inputs and isinstance(inputs[0], torch.Tensor)):
                return
            if self._data_layer is None:
                self._data_layer = id(module)
            prev, self._last_called = self._last_called, module
            # a Linear after a conv reads flattened positions, not units: a border position that sees
            # only the images' constant background is 0 for every example in a channel alive elsewhere
            after_conv = isinstance(module, nn.Linear) and prev is not None and not isinstance(prev, nn.Linear)
            if id(module) != self._data_layer and not after_conv and inputs[0].is_floating_point():
                self._observe(name, "zero", inputs[0].detach())
        return hook

    def _observe(self, name: str, kind: str, a: torch.Tensor) -> None:
        a = a.float()
        if kind == "zero":   # a layer's input: only its dead units are read (the statistics are the modules')
            self._mark_active(name, a.abs())
            return
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
        if kind == "relu":
            self._mark_active(name, a)
        elif kind == "relu_like":
            self._mark_active(name, a.clamp_min(0))

    def _mark_active(self, name: str, a: torch.Tensor) -> None:
        """Units (dim 1) positive on some example of ``a: (N, C, ...)``, OR-ed over the step's calls.
        ``a`` is >= 0 here (a ReLU's output, |input|, a leaky unit's positive part), so a unit is
        active iff its sum is > 0 -- one reduction, cheaper than a max."""
        if a.ndim < 2:
            return
        active = a.sum(dim=(0, *range(2, a.ndim))) > 0         # (C,): unit positive on some example
        prev = self._active.get(name)                          # a module called twice in one step
        self._active[name] = active if prev is None or prev.shape != active.shape else prev | active

    def after_step(self, trainer):
        if self._handles:
            stats, windows = [], []
            for name in self.names:
                stats.append(self._current.get(name))          # None: not called this step (a dropped block)
                active = self._active.get(name)
                if active is not None:
                    recent = self._recent[name]
                    if recent and recent[-1].shape != active.shape:
                        recent.clear()
                    recent.append(active)
                    active = tuple(recent)
                windows.append(active)
            self._due.append((trainer.step, stats, windows))
        self._current, self._active, self._last_called = {}, {}, None
        self._arm(trainer.step)

    def backlog(self) -> int:
        return len(self._due)

    def settle(self) -> None:
        """The due steps' rows ``[mean, std, saturated, dead] x layer``, for all pending due steps at
        once: the statistics in one transfer; per layer, the dead fraction of every step from one
        stacked ``(steps, window, C)`` tensor (a unit is dead when it was active in none of the
        window's batches)."""
        if not self._due:
            return
        present = [s for _, stats, _ in self._due for s in stats if s is not None]
        values = iter(torch.stack(present).tolist() if present else [])
        rows = [[v for s in stats for v in (next(values) if s is not None else [math.nan] * 3) + [math.nan]]
                for _, stats, _ in self._due]
        for j in range(len(self.names)):
            seen = [(k, w) for k, (_, _, windows) in enumerate(self._due) if (w := windows[j]) is not None]
            for k, dead in zip((k for k, _ in seen), _dead_fractions([w for _, w in seen], self.window)):
                rows[k][4 * j + 3] = dead
        self.series.steps += [step for step, _, _ in self._due]
        self.series.values += rows
        self._due = []
        super().settle()

    def after_fit(self, trainer):
        self.remove()
        self.settle()

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


def _dead_fractions(windows: list[tuple[torch.Tensor, ...]], size: int) -> list[float]:
    """For each window (1..``size`` bool ``(C,)`` tensors, the units active in a due batch): the
    fraction of units active in none of them. Windows of one width are stacked (a short window
    padded with its own first entry, which changes no OR) and reduced at once."""
    by_width: dict[int, list[int]] = {}
    for k, w in enumerate(windows):
        by_width.setdefault(w[0].shape[0], []).append(k)
    out = [math.nan] * len(windows)
    for ks in by_width.values():
        padded = [t for k in ks for t in (windows[k][:1] * (size - len(windows[k])) + windows[k])]
        ever = torch.stack(padded).view(len(ks), size, -1).any(1)
        for k, dead in zip(ks, (1.0 - ever.float().mean(1)).tolist()):
            out[k] = dead
    return out
