"""NanOrigin: where a non-finite value started (a "NaN guard": where it starts, not where it spreads).

When a training loss is first seen non-finite, the model's state and the call that produced the
loss are kept (:meth:`NanOrigin.capture`: one copy of the state, references to the batch). At the
end, :meth:`NanOrigin.origin` replays that forward on a copy under ``no_grad`` with a forward hook on
every module and a TorchFunctionMode on every op:

===============  ==================================================================================
fact             how
===============  ==================================================================================
module           the first module to *finish* with a NaN output from NaN-free inputs (else with a
                 non-finite output from finite inputs: a mask's -inf is not the start) (hooks
                 fire innermost first: the deepest module whose own computation made it), else
                 ``loss`` when every output was finite and the loss itself was not
op               the first op whose output was non-finite while its tensor inputs were finite
                 (``softmax``, ``rsqrt``, ``log``, ...), where one was seen
pass             ``forward`` (the replay sees the forward only; a forward that stays finite
                 while the loss's gradient is not: ``backward``)
input_nonfinite  the batch itself held NaN/Inf
parameters_      the module's weights were already non-finite (an earlier update blew them up:
nonfinite        then the lr/clipping, not the forward, is where to look)
===============  ==================================================================================
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.overrides import TorchFunctionMode


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)
    else:
        t = getattr(obj, "logits", None)
        if isinstance(t, torch.Tensor):
            yield t


def _nonfinite(obj) -> bool:
    return any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in _tensors(obj))


def _nan(obj) -> bool:
    return any(t.is_floating_point() and bool(torch.isnan(t).any()) for t in _tensors(obj))


class _FirstBadOp(TorchFunctionMode):
    """The first op making a NaN from NaN-free inputs, and the first making any non-finite value
    from finite inputs (an attention mask's -inf is one: a NaN is looked for first)."""

    def __init__(self):
        super().__init__()
        self.nan_op = self.op = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", str(func))
        if self.nan_op is None and _nan(out) and not _nan((args, kwargs or {})):
            self.nan_op = name
        if self.op is None and _nonfinite(out) and not _nonfinite((args, kwargs or {})):
            self.op = name
        return out


class NanOrigin:
    def __init__(self):
        self.captured = None        # (model, state, args, kwargs, step, loss name)

    def capture(self, model: nn.Module | None, args: tuple, kwargs: dict, step: int, loss: str | None) -> None:
        if self.captured is not None or model is None:
            return
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.captured = (model, state, args, kwargs, step, loss)

    def origin(self) -> dict | None:
        """The facts of the module table, or None when nothing was captured or the replay failed."""
        if self.captured is None:
            return None
        model, state, args, kwargs, step, loss = self.captured
        try:
            return self._replay(model, state, args, kwargs, step, loss)
        except Exception as e:  # noqa: BLE001 - the origin is a hint; its failure must not fail the verdict
            return {"module": None, "op": None, "pass": None, "input_nonfinite": _nonfinite((args, kwargs)),
                    "step": step, "error": f"{type(e).__name__}: {e}"}

    @staticmethod
    def _replay(model, state, args, kwargs, step, loss) -> dict:
        copied = copy.deepcopy(model)
        copied.load_state_dict(state)
        names = {id(m): (n or type(m).__name__) for n, m in copied.named_modules()}
        first: list = []
        first_nan: list = []

        def hook(module, inputs, output):
            if not first and _nonfinite(output) and not _nonfinite(inputs):
                first.append(module)
            if not first_nan and _nan(output) and not _nan(inputs):
                first_nan.append(module)
        handles = [m.register_forward_hook(hook) for m in copied.modules()]
        spy = _FirstBadOp()
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad(), spy:
                copied(*args, **kwargs)
        finally:
            for h in handles:
                h.remove()
        module = first_nan[0] if first_nan else first[0] if first else None
        op = spy.nan_op if first_nan or spy.nan_op else spy.op
        params_bad = module is not None and any(not bool(torch.isfinite(p).all()) for p in module.parameters())
        return {"module": names.get(id(module)) if module is not None else (f"loss ({loss})" if loss else "loss"),
                "op": op, "pass": "forward", "input_nonfinite": _nonfinite((args, kwargs)),
                "parameters_nonfinite": bool(params_bad), "step": step}
