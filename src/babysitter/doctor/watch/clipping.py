"""Gradient clipping as the run does it, so that the doctor reads the gradients *before* clipping
(clipping can hide an explosion; it must not hide it from the doctor) and its probes step as the
run steps (an SGD lr that trains with clipping diverges without it).

=================  ===============================================================================
case               how the clip is found
=================  ===============================================================================
an optimizer       at the end of each read step's backward (an autograd engine callback queued by
                   a post-accumulate-grad hook on one parameter) the total norm ``g_pre`` of the
                   stepped parameters' gradients; at the optimizer's pre-step hook the total norm
                   ``g_step``: clipped when ``0 < g_step < CLIPPED g_pre``; the clip norm is the median
                   ``g_step`` of the clipped steps (``g_step = 0``: zeroed before the step, not clipped)
hand-written       only the update is seen: the effective lr of a read step,
update             ``lr_t = -(dp . g) / (g . g)`` on the sentinel weight (g before clipping), and
                   ``||g_t||``; plain SGD with clipping to c gives ``lr_t = lr min(1, c / ||g_t||)``:
                   clipped when some ``lr_t < CLIPPED max lr_t``; then ``lr = max lr_t`` and
                   ``c = median(lr_t ||g_t|| / lr)`` over the clipped steps
=================  ===============================================================================
"""

from __future__ import annotations

import math
from statistics import median

import torch

from babysitter.doctor.tensor_hooks import unhook
from babysitter.doctor.thresholds import CLIPPED


def total_norm(params) -> float:
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)).float()))


def loss_scaled(pre: float, now: float) -> bool:
    """``pre / now`` is a GradScaler's loss scale, not a clip: a power of two >= 2 (unscale_ divides
    by exactly the scale)."""
    if now <= 0 or pre <= 0:
        return False
    return power_of_two(pre / now)


def power_of_two(r: float) -> bool:
    return r >= 2 and abs(math.log2(r) - round(math.log2(r))) < 1e-3


class Clipping:
    """What was seen of the run's clipping: ``pre`` (step -> norm before clipping), ``seen``
    ((step, pre, at step)), ``hand`` ((effective lr, norm) of a hand-written update)."""

    def __init__(self):
        self.pre: dict[int, float] = {}
        self.seen: list[tuple[int, float, float]] = []
        self.hand: list[tuple[float, float]] = []
        self.scaled = 0     # read steps whose backward carried a GradScaler's scale (not clipping)
        self.scale = 1.0    # the loss scale seen: backward() on loss x 2^k (GradScaler.scale(loss))
        self._queued = False
        self._handle = self._param = None

    def watch(self, param: torch.Tensor, on_backward) -> None:
        """Call ``on_backward()`` at the end of every backward pass that reaches ``param``."""
        def hook(_p):
            if not self._queued:
                self._queued = True
                torch.autograd.Variable._execution_engine.queue_callback(done)

        def done():
            self._queued = False
            on_backward()
        self._handle, self._param = param.register_post_accumulate_grad_hook(hook), param

    def watching(self) -> bool:
        return self._handle is not None

    def close(self) -> None:
        if self._handle is not None:
            unhook(self._handle, self._param)
            self._handle = self._param = None

    def at_step(self, step: int, params) -> None:
        if step in self.pre:
            pre, now = self.pre.pop(step), total_norm(params)
            if not loss_scaled(pre, now):
                self.seen.append((step, pre, now))
            else:
                self.scaled += 1

    def clipped(self) -> list[tuple[int, float, float]]:
        return [(s, a, b) for s, a, b in self.seen if a > 0 and 0 < b < CLIPPED * a]   # 0: zeroed, not clipped

    def zeroed(self) -> list[tuple[int, float]]:
        """Read steps whose gradients backward() filled (norm ``pre`` > 0) and were all 0 when the
        optimizer stepped: ``zero_grad()`` between ``loss.backward()`` and ``optimizer.step()``."""
        return [(s, a) for s, a, b in self.seen if a > 0 and b == 0]

    def clip_norm(self) -> float | None:
        """The norm the run clips to, or None when no step was clipped."""
        got = self.clipped()
        if got:
            return median(b for _, _, b in got)
        if len(self.hand) >= 2:
            lr = max(l for l, _ in self.hand)
            cut = [(l, g) for l, g in self.hand if l < CLIPPED * lr]
            if lr > 0 and cut:
                return median(l * g / lr for l, g in cut)
        return None

    def hand_lr(self) -> float | None:
        return max((l for l, _ in self.hand), default=None) if self.clip_norm() is not None else None

    def facts(self) -> dict:
        c = self.clipped()
        return {"clip_norm": self.clip_norm(), "clipped_steps": len(c) or sum(1 for _ in self.hand if self.clip_norm()),
                "max_norm_before_clip": max((a for _, a, _ in self.seen), default=None)}
