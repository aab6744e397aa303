"""What a model returns and how the script called it, so that the probes can replay the call on a
copy: models as people write them return ``logits``, ``(logits, loss)``, ``(logits, hidden)``, a
dict, or an object with ``.logits`` / ``.loss`` (the Hugging Face convention), and take more than
the batch (a hidden state, the targets, a mask).

=============  ==============================================================================
piece          rule
=============  ==============================================================================
logits_of      a tensor: itself; an object with ``.logits`` or a dict with ``"logits"``: that;
               a tuple/list/dict: its first floating tensor with ndim >= 1 (a 0-dim one is a loss)
Call           the call as recorded on the first training batch: ``model(x, *rest, **kwargs)``.
               ``rest``/``kwargs`` tensors with a dim of the batch's size B (a hidden state
               ``(layers, B, H)``, a mask ``(B, T)``) are tiled to a probe's n examples along that
               dim (row i -> row i mod B); the argument that held the loss's target is replaced by
               the probe's targets
Layout         the loss saw ``input: (N', *C)`` and ``target: (N', *)``; the model's logits
               ``(B, ...)`` and the kit's targets ``(B, ...)`` are reshaped to those trailing shapes
               (``(B, T, V) -> (B*T, V)``, ``(B, T) -> (B*T,)``): one example per row of x for the
               probes, the loss exactly as the script computed it
=============  ==============================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn


def logits_of(out):
    """The model's prediction tensor within ``out`` (see the module table), or ``out`` unchanged."""
    if isinstance(out, torch.Tensor):
        return out
    got = getattr(out, "logits", None)
    if isinstance(got, torch.Tensor):
        return got
    items = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (tuple, list)) else []
    if isinstance(out, dict) and isinstance(out.get("logits"), torch.Tensor):
        return out["logits"]
    for v in items:
        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.ndim >= 1:
            return v
    return out


def output_kind(out) -> str:
    """How the model returned its prediction: tensor | tuple | dict | object."""
    if isinstance(out, torch.Tensor):
        return "tensor"
    if isinstance(out, dict):
        return "dict"
    if isinstance(out, (tuple, list)):
        return "tuple"
    return "object"


def _tile(t: torch.Tensor, b: int, n: int) -> torch.Tensor:
    """``t`` with its first dim of size ``b`` indexed by ``arange(n) % b`` (unchanged if none)."""
    if n == b:
        return t
    for d, size in enumerate(t.shape):
        if size == b:
            return t.index_select(d, torch.arange(n, device=t.device) % b)
    return t


def _fit(v, b: int, n: int):
    """A recorded argument (a tensor, a tuple of them, anything else) for a batch of ``n`` instead of ``b``."""
    if isinstance(v, torch.Tensor):
        return _tile(v, b, n)
    if isinstance(v, tuple):
        return tuple(_tile(u, b, n) if isinstance(u, torch.Tensor) else u for u in v)
    return v


INPUT_KEYS = ("input_ids", "pixel_values", "input_values", "input_features", "inputs_embeds", "x", "input", "inputs",
              "src", "images", "features")


def batch_input(args: tuple, kwargs: dict) -> tuple[torch.Tensor | None, str | None]:
    """The batch a model was called on: its first positional argument, else (a call by keywords only)
    the first of INPUT_KEYS it got as a tensor, with that key."""
    if args:
        return (args[0], None) if isinstance(args[0], torch.Tensor) else (None, None)
    key = next((k for k in INPUT_KEYS if isinstance(kwargs.get(k), torch.Tensor)), None)
    return (kwargs[key], key) if key is not None else (None, None)


def _same(a, b: torch.Tensor) -> bool:
    return (isinstance(a, torch.Tensor) and a.numel() == b.numel() and a.dtype == b.dtype
            and bool(torch.equal(a.reshape(-1), b.reshape(-1))))


@dataclass
class Call:
    """The script's call ``model(x, *rest, **kwargs)`` (detached copies of the first batch's extra
    arguments), or ``model(**{x_key: x}, **kwargs)`` for a call by keywords only (the Hugging Face
    convention, ``model(input_ids=..., attention_mask=..., labels=...)``); ``target_at``: the position in
    ``rest`` (int) or the kwarg name (str) that held the targets, else None. ``batch``: B of the recorded call."""

    rest: tuple = ()
    kwargs: dict = field(default_factory=dict)
    batch: int = 0
    target_at: int | str | None = None
    x_key: str | None = None

    @classmethod
    def record(cls, args: tuple, kwargs: dict, x_key: str | None = None) -> "Call":
        clone = (lambda v: v.detach().clone() if isinstance(v, torch.Tensor) else
                 tuple(u.detach().clone() if isinstance(u, torch.Tensor) else u for u in v) if isinstance(v, tuple) else v)
        x = kwargs[x_key] if x_key is not None else (args[0] if args else None)
        return cls(tuple(clone(a) for a in args[1:]), {k: clone(v) for k, v in kwargs.items() if k != x_key},
                   int(x.shape[0]) if isinstance(x, torch.Tensor) and x.ndim else 0, x_key=x_key)

    @property
    def plain(self) -> bool:
        return not self.rest and not self.kwargs

    def find_target(self, target: torch.Tensor) -> None:
        """Which extra argument held ``target`` (the loss's target, possibly flattened)."""
        for i, a in enumerate(self.rest):
            if _same(a, target):
                self.target_at = i
                return
        for k, v in self.kwargs.items():
            if _same(v, target):
                self.target_at = k
                return

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None):
        n = int(x.shape[0])
        rest = [_fit(a, self.batch, n) for a in self.rest]
        kwargs = {k: _fit(v, self.batch, n) for k, v in self.kwargs.items()}
        if isinstance(self.target_at, int) and y is not None:
            rest[self.target_at] = y
        elif isinstance(self.target_at, str) and y is not None:
            kwargs[self.target_at] = y
        return model(x, *rest, **kwargs) if self.x_key is None else model(*rest, **{self.x_key: x}, **kwargs)


@dataclass
class Layout:
    """The trailing shapes the loss saw: ``input[1:]`` and ``target[1:]``; ``per_example``: the
    loss's rows per example of x (T for a flattened sequence, 1 otherwise)."""

    input_tail: tuple
    target_tail: tuple
    per_example: int = 1

    @classmethod
    def seen(cls, loss_input: torch.Tensor, target: torch.Tensor, batch: int) -> "Layout":
        rows = int(loss_input.shape[0]) if loss_input.ndim else 1
        per = rows // batch if batch and rows % batch == 0 else 1
        return cls(tuple(loss_input.shape[1:]), tuple(target.shape[1:]), per)

    def example_targets(self, target: torch.Tensor, batch: int) -> torch.Tensor:
        """The loss's target as one row per example of x: ``(B*T,) -> (B, T)``."""
        if self.per_example > 1 and target.shape[0] == batch * self.per_example:
            return target.reshape(batch, -1, *self.target_tail)
        return target

    def loss_input(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.reshape(-1, *self.input_tail) if logits.ndim and logits.numel() else logits

    def loss_target(self, y: torch.Tensor) -> torch.Tensor:
        return y.reshape(-1, *self.target_tail) if y.ndim else y


class Replay:
    """``forward(model, x, y) -> the loss's input`` for the probes: the recorded call, the logits
    out of what it returns, reshaped as the script reshaped them."""

    def __init__(self, call: Call, layout: Layout):
        self.call, self.layout = call, layout

    def __call__(self, model, x, y=None):
        out, per = logits_of(self.call(model, x, y)), self.layout.per_example
        if isinstance(out, torch.Tensor) and out.ndim >= 3 and per > 1 and out.shape[1] == per + 1:
            out = out[:, :-1]   # a causal LM shifted inside its forward: position t's scores predict token t + 1
        return self.layout.loss_input(out)


def _slot(call: Call | None, at: int | str):
    if call is None:
        return None
    return (call.rest[at] if at < len(call.rest) else None) if isinstance(at, int) else call.kwargs.get(at)


@dataclass
class Rows:
    """A model called with per-example arguments besides x (``model(categories, numbers)``, an image and
    its metadata): the kit's batches become row ids, and a probe's rows are looked up here -- x and, for
    each such argument (position or keyword), the same rows of it -- so the probes replay each example
    with its own arguments, not with the first batch's. An argument is per-example when every kit batch
    passed a tensor of its own B rows and they are not all the same (a mask of one batch, a hidden state
    laid out (layers, B, H), the targets: not)."""

    x: torch.Tensor
    varying: dict

    @classmethod
    def of(cls, call: Call | None, calls: list, batches: list) -> "Rows | None":
        if call is None or len(batches) < 2 or len(calls) != len(batches):
            return None
        varying = {}
        for at in [*range(len(call.rest)), *call.kwargs]:
            values = [_slot(c, at) for c in calls]
            first = values[0]
            if at == call.target_at or not isinstance(first, torch.Tensor) or first.ndim == 0:
                continue
            if all(isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == len(x) and v.shape[1:] == first.shape[1:]
                   and v.dtype == first.dtype for v, (x, _) in zip(values, batches)) \
                    and not all(v.shape == first.shape and torch.equal(v, first) for v in values[1:]):
                varying[at] = torch.cat([v.detach() for v in values])
        return cls(torch.cat([x for x, _ in batches]), varying) if varying else None

    def ids(self, batches: list) -> list:
        """The kit's batches as ``(row ids, y)``."""
        out, start = [], 0
        for x, y in batches:
            out.append((torch.arange(start, start + len(x)), y))
            start += len(x)
        return out

    def inputs(self, ids: torch.Tensor) -> torch.Tensor:
        return self.x[ids.to(self.x.device)]


class RowReplay:
    """:class:`Replay` of a kit whose batches are :class:`Rows` ids: each row with its own arguments."""

    def __init__(self, rows: Rows, call: Call, layout: Layout):
        self.rows, self.call, self.layout = rows, call, layout

    def __call__(self, model, ids, y=None):
        n, b, i = int(ids.shape[0]), self.call.batch, ids.to(self.rows.x.device)
        own = {at: v[i].to(ids.device) for at, v in self.rows.varying.items()}
        rest = tuple(own[k] if k in own else _fit(a, b, n) for k, a in enumerate(self.call.rest))
        kwargs = {k: own[k] if k in own else _fit(v, b, n) for k, v in self.call.kwargs.items()}
        call = Call(rest, kwargs, n, self.call.target_at, self.call.x_key)
        return Replay(call, self.layout)(model, self.rows.x[i].to(ids.device), y)


def loss_of(out) -> torch.Tensor | None:
    """The loss a model returned beside its prediction (a 0-dim floating tensor in a tuple, a
    dict's ``"loss"``, an object's ``.loss``), else None."""
    if isinstance(out, torch.Tensor):
        return None
    if type(out) is tuple:   # (logits, loss): the common case first (a step's hook, every step)
        return next((v for v in out if isinstance(v, torch.Tensor) and v.ndim == 0 and v.is_floating_point()), None)
    got = out.get("loss") if isinstance(out, dict) else getattr(out, "loss", None)
    if isinstance(got, torch.Tensor) and got.ndim == 0:
        return got
    if isinstance(out, (tuple, list)):
        return next((v for v in out if isinstance(v, torch.Tensor) and v.ndim == 0 and v.is_floating_point()), None)
    return None


def ignore_index_of(fn, kwargs: dict) -> int | None:
    """The target value a cross entropy / NLL loss skips (torch's default -100), else None."""
    got = kwargs.get("ignore_index", getattr(fn, "ignore_index", None))
    return int(got) if got is not None else (-100 if getattr(fn, "__name__", "") in ("cross_entropy", "nll_loss")
                                             else None)


def loss_floor(fn, kwargs: dict, classes: int | None) -> float:
    """The lowest value the loss can take whatever the outputs: with label smoothing e over C classes,
    cross entropy's target is q = (1 - e) one-hot + e / C, and it cannot go below q's entropy
    (0.77 nats for e = 0.1, C = 94); 0 otherwise."""
    e = float(kwargs.get("label_smoothing", getattr(fn, "label_smoothing", 0.0)) or 0.0)
    if not classes or e <= 0 or classes < 2:
        return 0.0
    top, rest = 1 - e + e / classes, e / classes
    return -top * math.log(top) - (classes - 1) * rest * math.log(rest)


def summed(fn, kwargs: dict) -> bool:
    """The loss sums over its rows (``reduction='sum'``, or the legacy ``size_average=False``) instead of
    averaging them: its value scales with the batch."""
    reduction = kwargs.get("reduction", getattr(fn, "reduction", None))
    if reduction is None and kwargs.get("size_average") is False and kwargs.get("reduce") is not False:
        reduction = "sum"   # torch's _Reduction.legacy_get_string for a functional call
    return reduction == "sum"


def per_row(loss: torch.Tensor, name: str, target, ignore: int | None) -> torch.Tensor:
    """A summed loss as its 'mean' reduction gives it, so that a curve's train and validation points
    (``F.nll_loss(..., reduction='sum')`` over a test batch of 1000) share a scale: divided by the scored
    targets of a class loss (``ignore_index`` left out), else by the target's elements. No sync."""
    if not isinstance(target, torch.Tensor):
        return loss
    if name in ("cross_entropy", "nll_loss") and not target.is_floating_point():
        rows = (target != ignore).sum() if ignore is not None else torch.tensor(target.numel())
    elif name == "cross_entropy":   # class probabilities (N, C, ...): one row per position
        rows = torch.tensor(target.numel() // target.shape[1] if target.ndim >= 2 else 1)
    else:
        rows = torch.tensor(target.numel())
    return loss.detach() / rows.to(loss.device).clamp(min=1)
