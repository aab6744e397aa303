"""Learning-rate schedules by their lecture names, from torch.optim.lr_scheduler.

``t`` counts schedule units (``schedule.unit``: optimizer steps or epochs), ``T`` is the run's
total units, ``a0 = optim.lr``:

constant      a = a0
step          a = a0 * gamma^floor(t / step_size)
exponential   a = a0 * e^(-k t)
inverse_time  a = a0 / (1 + k t)                                       (1/t decay)
cosine        a = min_lr + (a0 - min_lr) (1 + cos(pi t / T)) / 2
sgdr          cosine restarted every ``cycle`` units (Loshchilov & Hutter 2017)
cyclic        triangle between a0/10 and a0, half-period ``cycle`` units (Smith 2017)
onecycle      cosine warm-up a0/25 -> a0 over the first pct_start*T units, then cosine down to
              a0/(25 * 1e4) at the last unit (Smith 2018; torch's OneCycleLR). The peak comes at
              unit 1 or later; a run of fewer than 3 units has no room for both and keeps a0.
"""

from __future__ import annotations

import math

from torch.optim import lr_scheduler as S

SCHEDULES = {
    "constant": lambda opt, s, total: S.LambdaLR(opt, lambda t: 1.0),
    "step": lambda opt, s, total: S.StepLR(opt, step_size=s.step_size, gamma=s.gamma),
    "exponential": lambda opt, s, total: S.ExponentialLR(opt, gamma=math.exp(-s.k)),
    "inverse_time": lambda opt, s, total: S.LambdaLR(opt, lambda t, k=s.k: 1.0 / (1.0 + k * t)),
    "cosine": lambda opt, s, total: S.CosineAnnealingLR(opt, T_max=total, eta_min=s.min_lr),
    "sgdr": lambda opt, s, total: S.CosineAnnealingWarmRestarts(opt, T_0=s.cycle, eta_min=s.min_lr),
    "cyclic": lambda opt, s, total: S.CyclicLR(
        opt, base_lr=[g["lr"] / 10 for g in opt.param_groups], max_lr=[g["lr"] for g in opt.param_groups],
        step_size_up=s.cycle, cycle_momentum=False),
    "onecycle": lambda opt, s, total: _onecycle(opt, s, total),
}


def _onecycle(opt, s, total):
    """torch's OneCycleLR, kept away from its short-run failures: its peak is at unit
    ``pct_start * total - 1``, which divides by zero when that is 0 (e.g. 4 epochs at 0.25) and
    skips the warm-up when it is negative; so the peak is moved to unit 1 at the earliest."""
    if total < 3:
        return S.LambdaLR(opt, lambda t: 1.0)
    return S.OneCycleLR(
        opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total,
        pct_start=max(s.pct_start, 2 / total),
        cycle_momentum="momentum" in opt.defaults and opt.defaults["momentum"] > 0)


def make_schedule(optimizer, spec, total_units: int) -> S.LRScheduler:
    """The schedule ``spec.name`` over ``total_units`` (steps or epochs, as ``spec.unit`` says)."""
    return SCHEDULES[spec.name](optimizer, spec, max(total_units, 1))
