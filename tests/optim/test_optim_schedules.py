"""Every schedule's learning rates against its formula computed in numpy."""

import numpy as np
import pytest
import torch

from babysitter.optim.schedules import SCHEDULES, make_schedule
from babysitter.spec import ScheduleSpec

A0, T = 0.1, 60
t = np.arange(T + 1, dtype=np.float64)


def _cos_anneal(start, end, frac):
    return end + (start - end) * (1 + np.cos(np.pi * frac)) / 2


def _onecycle(pct_start):
    """torch's OneCycleLR (cosine both ways): a0/25 -> a0 at t = pct_start*T - 1 -> a0/25/1e4 at T - 1."""
    lo, hi, end = A0 / 25, A0, A0 / 25 / 1e4
    peak = pct_start * T - 1
    up = _cos_anneal(lo, hi, t / peak)
    down = _cos_anneal(hi, end, (t - peak) / (T - 1 - peak))
    return np.where(t <= peak, up, down)[:T]   # OneCycleLR takes exactly T steps


SPECS = {   # name -> (ScheduleSpec kwargs, expected lr at t = 0..T)
    "constant": ({}, np.full(T + 1, A0)),
    "step": (dict(step_size=7, gamma=0.5), A0 * 0.5 ** np.floor(t / 7)),
    "exponential": (dict(k=0.05), A0 * np.exp(-0.05 * t)),
    "inverse_time": (dict(k=0.2), A0 / (1 + 0.2 * t)),
    "cosine": (dict(min_lr=0.001), _cos_anneal(A0, 0.001, t / T)),
    "sgdr": (dict(cycle=15, min_lr=0.001), _cos_anneal(A0, 0.001, (t % 15) / 15)),
    "cyclic": (dict(cycle=8), A0 / 10 + (A0 - A0 / 10) * (1 - np.abs((t / 8) % 2 - 1))),
    "onecycle": (dict(pct_start=0.3), _onecycle(0.3)),
}


def test_every_schedule_has_a_formula_here():
    assert set(SPECS) == set(SCHEDULES)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_formula(name):
    kwargs, expected = SPECS[name]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=A0)
    sched = make_schedule(opt, ScheduleSpec(name=name, **kwargs), T)
    lrs = []
    for _ in range(len(expected)):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if len(lrs) < len(expected):
            sched.step()
    np.testing.assert_allclose(lrs, expected, rtol=1e-6, atol=1e-12)


def test_onecycle_landmarks():
    _, expected = SPECS["onecycle"]
    assert expected[0] == pytest.approx(A0 / 25)
    assert expected.max() == pytest.approx(A0) and expected.argmax() == round(0.3 * T - 1)
    assert expected[-1] == pytest.approx(A0 / 25 / 1e4)


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5, 8])
def test_onecycle_survives_short_runs(total):
    # torch's OneCycleLR divides by zero when pct_start * total == 1 (4 units at 0.25)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=A0)
    sched = make_schedule(opt, ScheduleSpec(name="onecycle", pct_start=0.25), total)
    lrs = []
    for _ in range(total):   # the trainer steps the schedule once per unit
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    if total < 3:
        assert lrs == [A0] * total                      # too short for a cycle: constant a0
    else:
        peak = max(round(0.25 * total - 1), 1)
        assert lrs[0] == pytest.approx(A0 / 25) and lrs[peak] == pytest.approx(A0)
        assert lrs[-1] == pytest.approx(A0 / 25 / 1e4)
