"""doctor/probes/lr_range.py, the learning-rate range test (Smith 2017): the band it reads on the digits
MLP, stable over seeds, following the optimizer and not the schedule; the lr findings against the band;
and the sweep's own pieces against numpy."""

import json
import math

import numpy as np
import pytest

from babysitter.doctor.probes import lr_range
from babysitter.doctor.probes.spec_kit import spec_kit
from babysitter.doctor.probes.spec_probes import probe_lr_range
from babysitter.doctor.remedies import SpecHost, remedy
from tests.doctor.probes.cases import NanAfter, factory, ids, spec_of


@pytest.fixture(scope="module")
def sgd_range(digits):
    return probe_lr_range(spec_of(), digits, factory(digits), seeds=3)


def test_range_test_suggests_a_sensible_and_stable_sgd_lr(digits, sgd_range):
    band = sgd_range[0]["lr_range"]
    assert 1e-3 <= band["suggested"] <= 1.0 and band["low"] < band["suggested"] < band["high"]
    assert band["suggested"] == pytest.approx(band["high"] / 10)
    minima = [r["landmarks"]["minimum"] for r in band["seeds"]]
    assert band["high"] == pytest.approx(sorted(minima)[1])               # the median of 3
    other = probe_lr_range(spec_of(seed=10), digits, factory(digits), seeds=3)[0]["lr_range"]
    assert [r["seed"] for r in other["seeds"]] == [10, 11, 12]
    assert 1 / 3 < other["suggested"] / band["suggested"] < 3
    assert sgd_range[1] == []                                              # lr 0.1 is fine


def test_the_sweep_follows_the_optimizer_not_the_schedule(digits, sgd_range):
    band = sgd_range[0]["lr_range"]
    # the schedule is held constant in the sweep: same curves, but a one-cycle lr is its peak
    peak = probe_lr_range(spec_of(**{"schedule.name": "onecycle"}), digits, factory(digits), seeds=3)[0]["lr_range"]
    for a, b in zip(peak["seeds"], band["seeds"]):   # (threaded float sums differ in the last bits)
        np.testing.assert_allclose(a["loss"][:30], b["loss"][:30], rtol=1e-5)
    assert peak["suggested"] == pytest.approx(peak["high"] / 3)
    assert 1 / 1.5 < peak["high"] / band["high"] < 1.5
    # Adam's good lr is far below plain SGD's (CS231n: ~1e-3 vs ~1e-1)
    adam = probe_lr_range(spec_of(**{"optim.name": "adam"}), digits, factory(digits), seeds=3)[0]["lr_range"]
    assert 1e-4 <= adam["suggested"] <= 3e-2 and adam["suggested"] < band["suggested"] / 5


def test_lr_far_outside_the_band_is_flagged(digits, sgd_range):
    band = sgd_range[0]["lr_range"]

    def lr_findings(spec, band):   # the kit's reading, on the spec's kit (advice in spec keys)
        return lr_range.lr_findings(spec_kit(spec, digits, factory(digits), spec), band)

    high = lr_findings(spec_of(**{"optim.lr": 50.0}), band)
    assert [f.id for f in high] == ["lr_too_high"]
    assert high[0].facts["suggested"] == band["suggested"]
    (old, new), = remedy(high[0], SpecHost(spec_of(**{"optim.lr": 50.0})))[0].values()
    assert old == 50.0 and new == pytest.approx(band["suggested"], rel=0.05)
    low = lr_findings(spec_of(**{"optim.lr": 1e-6}), band)
    assert [f.id for f in low] == ["lr_too_low"]
    farther = lr_findings(spec_of(**{"optim.lr": 1e-7}), band)
    assert farther[0].score > low[0].score
    # 5x the lowest-loss lr: too high from the first step, fine as a one-cycle peak (after warm-up)
    assert [f.id for f in lr_findings(spec_of(**{"optim.lr": 5 * band["high"]}), band)] == ["lr_too_high"]
    assert lr_findings(spec_of(**{"optim.lr": 5 * band["high"], "schedule.name": "onecycle"}), band) == []
    # end to end: the sweep itself does not depend on optim.lr, the finding does
    _, findings = probe_lr_range(spec_of(**{"optim.lr": 50.0}), digits, factory(digits), seeds=1)
    assert "lr_too_high" in ids(findings)


def test_a_nan_loss_ends_the_sweep_without_a_crash(digits):
    numbers, findings = probe_lr_range(spec_of(), digits, lambda s: NanAfter(), seeds=3)
    band = numbers["lr_range"]
    assert [(r["stopped"], r["steps"]) for r in band["seeds"]] == [("not finite", 30)] * 3
    assert all(math.isfinite(v) for r in band["seeds"] for v in r["loss"])
    json.dumps(numbers, allow_nan=False)


def _centred(a, fn):
    """fn over centred windows of 5, cut at the ends (NaN padding, nan-aware reductions): numpy's own."""
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(np.asarray(a, float), 2, constant_values=np.nan), 5)
    return fn(windows, axis=1)


def test_smooth_is_a_centred_running_median_then_mean():
    losses = np.random.default_rng(0).normal(2.0, 0.3, size=40)
    losses[7] = 50.0                                        # one bad batch: the median drops it
    expected = _centred(_centred(losses, np.nanmedian), np.nanmean)
    np.testing.assert_allclose(lr_range.smooth(losses), expected, rtol=1e-12)
    assert lr_range.smooth(losses).max() < 3.0


def test_read_curve_finds_the_minimum_of_a_known_curve_and_none_on_a_flat_one():
    """A loss that is a parabola in log10(lr) with its bottom at lr = 1e-2: the minimum is the grid
    point nearest 1e-2 (a symmetric smoothing keeps it), and learning starts where the curve first fell
    by a tenth of its drop."""
    lrs = np.geomspace(*lr_range.SWEEP_LRS, lr_range.SWEEP_STEPS)
    losses = 1.0 + 0.05 * (np.log10(lrs) + 2) ** 2
    marks = lr_range.read_curve(lrs, list(losses))
    assert marks["minimum"] == lrs[np.argmin(np.abs(np.log10(lrs) + 2))]
    s = _centred(_centred(losses, np.nanmedian), np.nanmean)
    assert marks["low"] == lrs[np.argmax(s <= s[0] - 0.1 * (s[0] - s.min()))]
    assert marks["steep"] <= marks["minimum"]
    assert lr_range.read_curve(lrs, [2.3] * 100) is None                   # never fell: no landmarks


def test_read_curve_reads_no_minimum_in_a_curve_that_is_only_noise():
    """A loss that never falls, with a batch-to-batch spread of 0.2 (a regression whose inputs carry
    no signal): its smoothed minimum is noise at a random lr, so no landmarks; the same noise on a
    curve that falls by 1.5 (7.5 sigma) still gives them, its minimum near the true one (lr = 1e-2)."""
    lrs = np.geomspace(*lr_range.SWEEP_LRS, lr_range.SWEEP_STEPS)
    for seed in range(50):
        noise = np.random.default_rng(seed).normal(0.0, 0.2, size=len(lrs))
        assert lr_range.read_curve(lrs, list(2.0 + noise)) is None
        falling = 2.0 - 1.5 * np.exp(-((np.log10(lrs) + 2) ** 2)) + noise
        marks = lr_range.read_curve(lrs, list(falling))
        assert marks is not None and abs(np.log10(marks["minimum"]) + 2) < 1.0
