"""The doctor's in-run instruments (CS231n "Babysitting the learning process"; Karpathy, "A recipe
for training neural networks"): trainer callbacks that read the run every ``every`` steps.

A step is *due* when its 0-based index ``s`` (``trainer.step`` before the step) has
``s % every == 0``: steps 0, every, 2*every, ... Recorded steps are 1-based (``trainer.step``
after the step, as in metrics.jsonl). On a step that is not due an instrument does nothing but an
integer test (the forward hooks exist only during due steps). On a due step it computes on the device; the
numbers stay there until they are read, once per epoch (``after_epoch``), by ``summary()`` or by
``state_dict()`` — one sync. ``NonFinite`` alone reads the loss on due steps (one scalar).

=================  ============================================================  ==================
instrument         records on a due step (per Linear/Conv layer or activation)  hook
=================  ============================================================  ==================
UpdateRatio        ||W_after - W_before|| / ||W_before|| of the step             after_step
GradNorms          ||dL/dW||_2 (before clipping)                                 after_backward
Activations        mean, std, saturated fraction; ReLU units never positive     forward hooks
                   over the last ``window`` due batches (dead fraction)
SymmetricWeights   fraction of units whose incoming weights equal another's     after_step
NonFinite          the loss is finite, else ``trainer.stop_reason`` (run fails)  after_step
LossTrace          every step: the loss into a device buffer; per window of      after_step
                   ``every`` steps: mean, std, detrended std (noise), slope
RegShare           penalty / (loss + penalty), penalty = regularize.* + the       after_step
                   optimizer's coupled weight decay (wd/2 ||p||^2)
=================  ============================================================  ==================

``findings(summaries, spec)`` turns the instruments' summaries into :class:`Finding` s; its
thresholds are in its docstring. Each instrument's ``summary()`` is JSON-able (non-finite numbers
become None, counted in ``non_finite``) and ``state_dict()`` holds plain python, so a resumed run
keeps its record.
"""

from __future__ import annotations

import math
from collections import deque
from statistics import median

import torch
from torch import nn

from babysitter.doctor.findings import Finding, json_safe, rank, weaker_penalty
from babysitter.nn.activations import Maxout
from babysitter.nn.init import WEIGHTED
from babysitter.train.events import Callback

RELU = (nn.ReLU, nn.ReLU6)                                        # zero output -> zero gradient: can die
RELU_LIKE = (nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU)    # positive part identity, leaky negative
SATURATING = {nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


def weighted_layers(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, weight)`` of every Linear/Conv layer with a trainable weight, in module order
    (for our nn.Sequential models and most user modules that is the forward order)."""
    return [(name or type(m).__name__, m.weight) for name, m in model.named_modules()
            if isinstance(m, WEIGHTED) and isinstance(m.weight, torch.Tensor) and m.weight.requires_grad]


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

    def after_epoch(self, trainer):
        self.series.flush()

    def per_layer(self, j: int = 0, width: int = 1) -> dict[str, list]:
        """{layer: [value at each due step]} for column ``j`` of ``width`` columns per layer."""
        self.series.flush()
        return {n: [row[i * width + j] for row in self.series.values] for i, n in enumerate(self.names)}

    def summary(self) -> dict:
        raise NotImplementedError

    def state_dict(self) -> dict:
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
        self._before = [w.detach().clone() for _, w in self.layers] if self.due(trainer.step) else None

    def after_step(self, trainer):
        if self._before is not None and self.layers:
            after = [w.detach() for _, w in self.layers]
            num = torch.stack(torch._foreach_norm(torch._foreach_sub(after, self._before)))
            den = torch.stack(torch._foreach_norm(self._before))
            self.series.add(trainer.step, torch.where(den > 0, num / den.clamp_min(1e-30), torch.nan))
        self._snapshot(trainer)

    def summary(self) -> dict:
        s = self._layer_summary("ratio", self.per_layer())
        per_step = [_nanmedian(row) for row in self.series.values]
        s["step_median"] = json_safe(per_step)
        s["overall_median"] = _nanmedian(per_step)
        return s


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
            norms = [torch.linalg.vector_norm(w.grad) if w.grad is not None else w.new_zeros(())
                     for _, w in self.layers]
            self.series.add(trainer.step + 1, torch.stack(norms))

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


def _lastjson_safe(values: list) -> float | None:
    for v in reversed(values):
        if v is not None and math.isfinite(v):
            return v
    return None


def duplicate_fraction(w: torch.Tensor, rtol: float = 1e-6, max_units: int = 256) -> torch.Tensor:
    """Fraction of units (rows of ``w: (U, ...)`` flattened to ``(U, D)``) whose incoming weight
    vector equals another unit's: ``||w_i - w_j|| <= rtol * max(||w_i||, ||w_j||)``.

    Pairwise over the first ``max_units`` units (O(U^2 D), exact differences, not the Gram trick
    whose cancellation cannot resolve 1e-6)."""
    rows = w.detach().flatten(1)[:max_units].float()
    if rows.shape[0] < 2:
        return rows.new_zeros(())
    d = torch.cdist(rows[None], rows[None], compute_mode="donot_use_mm_for_euclid_dist")[0]
    n = torch.linalg.vector_norm(rows, dim=1)
    same = d <= rtol * torch.maximum(n[:, None], n[None, :])
    same.fill_diagonal_(False)
    return same.any(1).float().mean()


class SymmetricWeights(Instrument):
    """Per layer, the fraction of units whose incoming weights are identical (within ``rtol``
    relative) to another unit's — the zero-initialisation failure: identical units get identical
    gradients and stay identical forever. Checked on the first due step and every
    ``check_every``-th due step after it (the failure does not come and go)."""

    def __init__(self, every: int = 25, check_every: int = 10, rtol: float = 1e-6, max_units: int = 256):
        super().__init__(every)
        self.check_every, self.rtol, self.max_units = check_every, rtol, max_units
        self.layers: list[tuple[str, torch.Tensor]] = []

    def before_fit(self, trainer):
        self.layers = weighted_layers(trainer.model)
        self.names = [n for n, _ in self.layers]

    def after_step(self, trainer):
        i = trainer.step - 1
        if self.layers and self.due(i) and (i // self.every) % self.check_every == 0:
            fr = [duplicate_fraction(w, self.rtol, self.max_units) for _, w in self.layers]
            self.series.add(trainer.step, torch.stack(fr))

    def summary(self) -> dict:
        s = self._layer_summary("fraction", self.per_layer())
        s["last"] = json_safe({n: _lastjson_safe(v) for n, v in self.per_layer().items()})
        return s


class NonFinite(Instrument):
    """Stop the run when the loss is NaN/Inf: on due steps and on each epoch's last step it reads
    the loss (one scalar sync) and sets ``trainer.stop_reason = "loss_not_finite: ..."`` with the
    step and the last finite loss; the trainer then keeps the last good checkpoint and fails."""

    def __init__(self, every: int = 25):
        super().__init__(every)
        self.last_finite: tuple[int, float] | None = None
        self.stopped: dict | None = None

    def after_step(self, trainer):
        i = trainer.step - 1
        if not (self.due(i) or trainer.step % trainer.steps_per_epoch == 0) or self.stopped is not None:
            return
        loss = float(trainer.loss.detach())
        if math.isfinite(loss):
            self.last_finite = (trainer.step, loss)
            return
        last = (f"last finite loss {self.last_finite[1]:.4g} at step {self.last_finite[0]}"
                if self.last_finite else "no finite loss recorded before")
        self.stopped = {"step": trainer.step, "loss": str(loss),
                        "last_finite_step": self.last_finite[0] if self.last_finite else None,
                        "last_finite_loss": self.last_finite[1] if self.last_finite else None}
        trainer.stop_reason = f"loss_not_finite: loss became {loss} at step {trainer.step} ({last})"

    def summary(self) -> dict:
        return {"every": self.every, "stopped": self.stopped,
                "last_finite": list(self.last_finite) if self.last_finite else None}

    def state_dict(self) -> dict:
        return {"last_finite": list(self.last_finite) if self.last_finite else None, "stopped": self.stopped}

    def load_state_dict(self, state: dict) -> None:
        self.last_finite = tuple(state["last_finite"]) if state.get("last_finite") else None
        self.stopped = state.get("stopped")


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


class RegShare(Instrument):
    """Share of the regularisation penalty in the objective on due steps:
    ``share = R / (L_data + R)``, ``R = regularize (l1/l2 penalty) + sum_groups wd/2 ||p||^2``
    (torch's coupled weight decay ``g += wd p`` is the gradient of ``wd/2 ||p||^2``), read after
    the step (the step's loss, the updated weights). Records nothing when the run has no
    regularisation. At the penalty/data equilibrium the share falls however strong the penalty is,
    so :mod:`~babysitter.doctor.curves` uses its largest value (usually the first due step)."""

    def __init__(self, every: int = 25):
        super().__init__(every)
        self.names = ["share", "penalty", "loss"]

    def after_step(self, trainer):
        if self.due(trainer.step - 1):
            self._record(trainer)

    @torch.no_grad()
    def _record(self, trainer):
        decayed = [g for g in trainer.optimizer.param_groups if (g.get("weight_decay") or 0.0) > 0]
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


def make_instruments(spec) -> list[Callback]:
    """All in-run instruments at the spec's cadence (``doctor.every``)."""
    every = spec.doctor.every
    return [NonFinite(every), LossTrace(every), UpdateRatio(every), GradNorms(every),
            Activations(every), SymmetricWeights(every), RegShare(every)]


def summaries(callbacks) -> dict[str, dict]:
    """``{class name: summary()}`` of the instruments among ``callbacks``."""
    return {type(cb).__name__: cb.summary() for cb in callbacks if isinstance(cb, Instrument)}


# ---------------------------------------------------------------------------------------- findings
# Thresholds, chosen from the lecture's rules of thumb and calibrated on real short runs (digits,
# mnist1d, spirals; see the table in ``findings``). 17 healthy runs measured: update-ratio run median
# 7e-4 .. 1.4e-2, largest single-step median 0.047 (Adam 1e-2, linear); median first/last grad
# norm 0.14 .. 2.3; largest total grad norm 11; dead ReLU <= 0.02; tanh saturation <= 0.005;
# duplicate units 0.
UPDATE_LOW_WARN = 1e-5          # run median below: lr_too_low (warning)
UPDATE_LOW_INFO = 1e-4          # ... below: lr_too_low (info)
UPDATE_HIGH_PEAK = 0.1          # one due step's median above: lr_too_high (weights moved > 10 % in a step)
UPDATE_HIGH_MEDIAN = 0.03       # run median above: lr_too_high
VANISHING_RATIO = 1e-3          # median first/last layer grad norm below: vanishing_gradients
COLLAPSE_RATIO = 1e-3           # some layer's activation std / the first's below: activations collapse
EXPLODING_RATIO = 1e2           # median first/last layer grad norm above: exploding_gradients
EXPLODING_NORM = 1e3            # a total grad norm above (healthy runs: <= 11): exploding_gradients
DEAD_WARN, DEAD_INFO = 0.4, 0.1
SATURATED_WARN, SATURATED_INFO = 0.5, 0.2
SYMMETRIC_ERROR, SYMMETRIC_WARN = 0.5, 0.1


def _log_score(x: float, threshold: float, decades: float = 2.0) -> float:
    """0.5 at the threshold, +0.5 per ``decades`` decades beyond it (clamped to [0, 1])."""
    return min(1.0, max(0.0, 0.5 + abs(math.log10(max(x, 1e-300) / threshold)) / (2 * decades)))


def _lr(spec) -> float:
    return spec.optim.lr


def update_ratio_findings(s: dict, spec, vanishing: bool = False) -> list[Finding]:
    """lr_too_low / lr_too_high from the update/weight ratio (lecture target ~1e-3).

    ``vanishing``: the gradients vanish, so a tiny ratio is their symptom, not the lr's (info)."""
    out = []
    med, steps = s.get("overall_median"), [v for v in s.get("step_median", []) if v is not None]
    if med is None or not steps:
        return out
    peak = max(steps)
    lr = _lr(spec)
    if peak > UPDATE_HIGH_PEAK or med > UPDATE_HIGH_MEDIAN:
        factor = 100 if max(peak, med * UPDATE_HIGH_PEAK / UPDATE_HIGH_MEDIAN) > 10 else 10
        # the penalty alone shrinks W by lr * (2 l2 + wd) per step: then the ratio is the regulariser's
        decay = lr * (2 * spec.regularize.l2 + spec.optim.weight_decay)
        by_reg = decay >= 0.5 * max(peak, med)
        note = (f"; the L2 penalty alone shrinks W by lr*(2*l2 + weight_decay) = {decay:.2g} per step "
                "(see reg_too_strong)") if by_reg else ""
        out.append(Finding(
            "lr_too_high", "info" if by_reg else "warning",
            f"update/weight ratio ||dW||/||W||: run median {med:.2g}, largest step median {peak:.2g} "
            f"(lecture target ~1e-3; > {UPDATE_HIGH_PEAK:g} in one step or > {UPDATE_HIGH_MEDIAN:g} overall is too high){note}",
            f"optim.lr: {lr:g} -> {lr / factor:g}",
            score=_log_score(max(peak, med * 3), UPDATE_HIGH_PEAK) * (0.5 if by_reg else 1.0)))
        if by_reg:  # the cause the evidence cites is a finding of its own, ranked above its symptoms
            out.append(Finding(
                "reg_too_strong", "warning",
                f"the L2 penalty alone shrinks W by lr*(2*l2 + weight_decay) = {decay:.2g} per step, "
                f">= half the measured update/weight ratio (largest step median {peak:.2g}, run median {med:.2g})",
                weaker_penalty(spec), score=min(1.0, decay / max(peak, med, 1e-12))))
    elif med < UPDATE_LOW_INFO:
        warn = med < UPDATE_LOW_WARN and not vanishing
        factor = 100 if med < UPDATE_LOW_WARN / 10 else 10
        note = " (the gradients vanish: see vanishing_gradients)" if vanishing else ""
        out.append(Finding(
            "lr_too_low", "warning" if warn else "info",
            f"update/weight ratio ||dW||/||W||: run median {med:.2g} (lecture target ~1e-3){note}",
            f"optim.lr: {lr:g} -> {lr * factor:g}", score=_log_score(med, UPDATE_LOW_INFO) * (1 if warn else 0.5)))
    return out


def grad_norm_findings(s: dict, activations: dict | None = None) -> list[Finding]:
    """vanishing_gradients / exploding_gradients from per-layer gradient norms (and the
    activations' std collapsing with depth, the lecture's small-init picture)."""
    out = []
    ratio, layers = s.get("first_last_median"), s.get("layers", [])
    collapse = _activation_collapse(activations) if activations else None
    if (ratio is not None and ratio < VANISHING_RATIO) or collapse is not None:
        parts = []
        if ratio is not None and ratio < VANISHING_RATIO:
            parts.append(f"first layer ({layers[0]}) gradient norm / last ({layers[-1]}): median {ratio:.2g} (< {VANISHING_RATIO:g})")
        if collapse is not None:
            parts.append(collapse[0])
        score = max(_log_score(ratio, VANISHING_RATIO, 3) if ratio is not None and ratio < VANISHING_RATIO else 0,
                     collapse[1] if collapse else 0)
        out.append(Finding("vanishing_gradients", "warning", "; ".join(parts),
                           "model.init: he (relu) or xavier (tanh); model.norm: batch; model.activation: relu",
                           layer=layers[0] if layers else None, score=score))
    non_finite, peak = s.get("non_finite", 0), s.get("max_total")
    big_ratio = ratio is not None and ratio > EXPLODING_RATIO
    big_norm = peak is not None and peak > EXPLODING_NORM
    if non_finite:
        out.append(Finding("exploding_gradients", "error", f"{non_finite} non-finite layer gradient norm(s) recorded",
                           "train.clip_norm: 1.0; optim.lr: lower it 10x", score=1.0))
    elif big_ratio or big_norm:
        ev = []
        if big_ratio:
            ev.append(f"first/last layer gradient norm median {ratio:.3g} (> {EXPLODING_RATIO:g})")
        if big_norm:
            at = s["steps"][s["total"].index(peak)] if peak in s.get("total", []) else "?"
            ev.append(f"total gradient norm {peak:.3g} at step {at} (> {EXPLODING_NORM:g})")
        score = max(_log_score(ratio, EXPLODING_RATIO) if big_ratio else 0, _log_score(peak, EXPLODING_NORM) if big_norm else 0)
        out.append(Finding("exploding_gradients", "warning", "; ".join(ev),
                           "train.clip_norm: 1.0; optim.lr: lower it 10x; model.init: he or xavier; model.norm: batch",
                           score=score))
    return out


def _activation_collapse(a: dict) -> tuple[str, float] | None:
    """(evidence, score) when some layer's activation std fell below COLLAPSE_RATIO x the first's."""
    std = a.get("last", {}).get("std", {})
    names = [n for n in a.get("layers", []) if std.get(n) is not None]
    if len(names) < 2 or not std[names[0]]:
        return None
    worst = min(names[1:], key=lambda n: std[n])
    r = std[worst] / std[names[0]]
    if r >= COLLAPSE_RATIO:
        return None
    return (f"activations collapse with depth: std {names[0]} {std[names[0]]:.2g} -> {worst} {std[worst]:.2g}",
            _log_score(r, COLLAPSE_RATIO, 3))


def activation_findings(s: dict, spec) -> list[Finding]:
    """dead_relu (graded) and saturated_units from the activation statistics."""
    out = []
    kinds, last = s.get("kinds", {}), s.get("last", {})
    dead = {n: v for n, v in last.get("dead", {}).items() if kinds.get(n) == "relu" and v is not None}
    if dead:
        worst = max(dead, key=dead.get)
        frac = dead[worst]
        if frac >= DEAD_INFO:
            listed = ", ".join(f"{n} {v:.0%}" for n, v in dead.items() if v >= DEAD_INFO)
            lr = _lr(spec)
            out.append(Finding(
                "dead_relu", "warning" if frac >= DEAD_WARN else "info",
                f"ReLU units never active over the last {s.get('window')} due batches: {listed}",
                f"optim.lr: {lr:g} -> {lr / 10:g}; model.activation: leaky_relu; model.init: he",
                layer=worst, score=frac))
    sat = {}
    for n in s.get("layers", []):
        if kinds.get(n) in ("tanh", "sigmoid"):
            vals = [v for v in s.get("saturated", {}).get(n, []) if v is not None]
            if vals:
                sat[n] = median(vals[len(vals) // 2:])
    if sat:
        worst = max(sat, key=sat.get)
        frac = sat[worst]
        if frac >= SATURATED_INFO:
            listed = ", ".join(f"{n} {v:.0%}" for n, v in sat.items() if v >= SATURATED_INFO)
            out.append(Finding(
                "saturated_units", "warning" if frac >= SATURATED_WARN else "info",
                f"saturated outputs (tanh |a| > 0.99, sigmoid a < 0.01 or > 0.99), median over the last half: {listed}",
                "model.init: xavier; model.norm: batch; model.activation: relu", layer=worst, score=frac))
    return out


def symmetric_findings(s: dict) -> list[Finding]:
    """symmetric_weights: units with identical incoming weights (zero init) never differentiate."""
    last = {n: v for n, v in s.get("last", {}).items() if v is not None}
    if not last:
        return []
    worst = max(last, key=last.get)
    frac = last[worst]
    if frac < SYMMETRIC_WARN:
        return []
    listed = ", ".join(f"{n} {v:.0%}" for n, v in last.items() if v >= SYMMETRIC_WARN)
    return [Finding("symmetric_weights", "error" if frac >= SYMMETRIC_ERROR else "warning",
                    f"units whose incoming weights equal another unit's (rel. 1e-6): {listed}",
                    "model.init: he", layer=worst, score=frac)]


def non_finite_findings(s: dict, spec) -> list[Finding]:
    stopped = s.get("stopped")
    if not stopped:
        return []
    last = (f"; last finite loss {stopped['last_finite_loss']:.4g} at step {stopped['last_finite_step']}"
            if stopped.get("last_finite_step") is not None else "")
    lr = _lr(spec)
    return [Finding("loss_not_finite", "error", f"loss {stopped['loss']} at step {stopped['step']}{last}; run stopped",
                    f"optim.lr: {lr:g} -> {lr / 10:g}; train.clip_norm: 1.0", score=1.0)]


def findings(summaries: dict[str, dict], spec) -> list[Finding]:
    """Findings from the instruments' summaries (``{class name: summary()}``, see :func:`summaries`).

    ===================  ==========================================================  ========
    finding              evidence and threshold                                      severity
    ===================  ==========================================================  ========
    lr_too_high          update ratio: a due step's median over layers > 0.1, or      warning
                         the run median > 0.03 (healthy: <= 0.047 / 0.014); info
                         when lr*(2*l2 + wd) explains half of it (the penalty's step)
    lr_too_low           update ratio run median < 1e-5 (info below 1e-4; info only   warning
                         when the gradients vanish)           (healthy: >= 7e-4)
    vanishing_gradients  median ||g_first|| / ||g_last|| < 1e-3 (healthy: >= 0.14),   warning
                         or an activation std < 1e-3 x the first layer's
    exploding_gradients  a non-finite layer gradient norm                             error
                         median first/last ratio > 100, or a total gradient norm     warning
                         > 1000 (healthy: first/last <= 2.3, total <= 11)
    dead_relu            worst ReLU layer: fraction of units never positive over the  warning
                         last 4 due batches >= 0.4 (info from 0.1) (healthy: <= 0.02)
    saturated_units      worst tanh/sigmoid layer: saturated fraction (median, last   warning
                         half) >= 0.5 (info from 0.2)         (healthy: <= 0.005)
    symmetric_weights    worst layer: units with a duplicate weight vector >= 0.5     error
                         (warning from 0.1)                   (healthy: 0)
    loss_not_finite      NonFinite stopped the run                                    error
    ===================  ==========================================================  ========

    ``score`` is the fraction for graded findings and grows with decades beyond the threshold
    for ratio findings. The loss curve's findings are :func:`babysitter.doctor.curves.classify`'s.
    """
    out: list[Finding] = []
    g, a = summaries.get("GradNorms"), summaries.get("Activations")
    vanishing = []
    if g or a:
        vanishing = grad_norm_findings(g or {}, a)
        out += vanishing
    if "UpdateRatio" in summaries:
        out += update_ratio_findings(summaries["UpdateRatio"], spec,
                                     vanishing=any(f.id == "vanishing_gradients" for f in vanishing))
    if a:
        dead = activation_findings(a, spec)
        if any(f.id == "reg_too_strong" for f in out):  # the penalty shrinks the weights: that kills the units
            for f in dead:
                if f.id == "dead_relu":
                    f.evidence += " (the penalty shrinks the weights toward 0: see reg_too_strong)"
        out += dead
    if "SymmetricWeights" in summaries:
        out += symmetric_findings(summaries["SymmetricWeights"])
    if "NonFinite" in summaries:
        out += non_finite_findings(summaries["NonFinite"], spec)
    return rank(out)
