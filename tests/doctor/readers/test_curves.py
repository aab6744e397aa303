"""Loss-curve shapes: synthetic traces of known shape, then a few short real runs."""

import numpy as np

from babysitter.doctor.readers.curves import classify
from babysitter.doctor.instruments import make_instruments, summaries
from babysitter.doctor.remedies import SpecHost, remedy
from babysitter.errors import TrainingFailed
from babysitter.spec import load_spec
from babysitter.train.events import Callback
from babysitter.train.run import train

SPEC = load_spec({"data": {"source": "digits"}, "optim": {"lr": 0.1}, "train": {"batch_size": 64}})


def trace_of(losses, every=25):
    """What LossTrace records for these per-step losses, computed with numpy: per window of
    ``every`` steps the mean and the std of the residuals around the window's straight line."""
    losses = np.asarray(losses, dtype=float)
    steps, means, noise = [], [], []
    for lo in range(0, len(losses), every):
        w = losses[lo:lo + every]
        t = np.arange(len(w))
        resid = w - np.polyval(np.polyfit(t, w, 1), t) if len(w) > 1 else w * 0
        steps.append(lo + len(w))
        means.append(float(w.mean()))
        noise.append(float(np.sqrt((resid ** 2).mean())))
    return {"steps": steps, "mean": means, "noise": noise, "first_loss": float(losses[0])}


def ids(found):
    return {f.id: f for f in found}


def changes(f, spec=SPEC):
    """The remedy's spec edit for ``f`` (the curve reader writes facts, the remedy table the change)."""
    return remedy(f, SpecHost(spec))[0]


T = np.arange(1000)
RNG = np.random.default_rng(0)
DECAY = 0.3 + 2.0 * np.exp(-T / 150) + RNG.normal(0, 0.02, T.size)


def test_exponential_decay_is_healthy():
    assert classify(trace_of(DECAY), [], SPEC) == []


def test_constant_loss_is_flat_and_blames_the_lr():
    found = ids(classify(trace_of(2.3 + RNG.normal(0, 0.02, T.size)), [], SPEC))
    assert list(found) == ["lr_too_low"] and found["lr_too_low"].severity == "warning"
    assert found["lr_too_low"].facts["flat"] and changes(found["lr_too_low"]) == {"optim.lr": [0.1, 1.0]}


def test_flat_threshold_is_a_five_percent_drop():
    just_below = np.linspace(2.3, 2.3 * 0.955, T.size)   # 4.5 % drop
    just_above = np.linspace(2.3, 2.3 * 0.94, T.size)    # 6 % drop
    assert "lr_too_low" in ids(classify(trace_of(just_below), [], SPEC))
    assert "lr_too_low" not in ids(classify(trace_of(just_above), [], SPEC))


def test_flat_with_moving_weights_is_only_info():
    flat = trace_of(np.full(T.size, 2.3))
    found = ids(classify(flat, [], SPEC, {"UpdateRatio": {"overall_median": 3e-3}}))
    assert found["lr_too_low"].severity == "info" and found["lr_too_low"].facts["moving"]


def test_plateau_then_drop_is_a_bad_init():
    curve = np.where(T < 300, 2.3, 0.4 + 1.9 * np.exp(-(T - 300) / 60)) + RNG.normal(0, 0.01, T.size)
    found = ids(classify(trace_of(curve), [], SPEC))
    assert list(found) == ["bad_init_plateau"]
    assert (found["bad_init_plateau"].facts["plateau_windows"], found["bad_init_plateau"].facts["windows"]) == (12, 40)


def test_noisy_loss_asks_for_larger_batches():
    noisy = DECAY + RNG.normal(0, 0.5, T.size)    # noise 0.25 of the drop, about 1 of the loss
    found = ids(classify(trace_of(noisy), [], SPEC))
    assert list(found) == ["noisy_loss"] and found["noisy_loss"].facts["batch_size"] == 64
    assert changes(found["noisy_loss"]) == {"train.batch_size": [64, 256]}


def test_an_exploding_loss_means_lr_too_high():
    explode = np.concatenate([DECAY[:500], DECAY[499] * np.exp(np.arange(500) / 60)])
    found = ids(classify(trace_of(explode), [], SPEC))
    assert found["lr_too_high"].severity == "warning" and found["lr_too_high"].facts["exploded"]


def test_a_non_finite_loss_is_loss_not_finite_with_its_step_or_at_init():
    """One id for a loss that went NaN/inf wherever it is seen; whether the lr is to blame is
    causes.py's rule (tests/doctor/test_watch_causes.py), not the curve's."""
    nan = trace_of(DECAY)
    nan["mean"][5] = None                       # LossTrace writes non-finite numbers as None
    (f,) = classify(nan, [], SPEC)
    assert (f.id, f.severity) == ("loss_not_finite", "error")
    assert f.facts == {"non_finite": True, "lr": 0.1, "step": nan["steps"][5]}
    nan["first_loss"] = None                    # the very first loss was already non-finite
    assert classify(nan, [], SPEC)[0].facts == {"non_finite": True, "lr": 0.1, "at_init": True}
    rows = [{"epoch": 1, "step": 19, "train_loss": 2.0}, {"epoch": 2, "step": 38, "train_loss": float("nan")}]
    assert classify([], rows, SPEC)[0].facts["step"] == 38


def test_loss_that_rises_again_means_lr_too_high():
    rise = np.concatenate([DECAY[:500], np.linspace(DECAY[499], 2 * DECAY[499], 500)])
    found = ids(classify(trace_of(rise), [], SPEC))
    assert found["lr_too_high"].facts["rises"]


def test_windows_as_tuples():
    windows = [(25 * (i + 1), 2.3, 0.01) for i in range(10)]
    assert list(ids(classify(windows, [], SPEC))) == ["lr_too_low"]


def rows(train_acc, val_acc, val_loss, train_loss=None):
    n = len(train_acc)
    train_loss = train_loss or list(np.linspace(2.0, 0.5, n))
    return [{"epoch": i + 1, "train_loss": train_loss[i], "train_acc": train_acc[i], "val_loss": val_loss[i],
             "val_acc": val_acc[i]} for i in range(n)]


def test_train_val_gap_with_rising_val_loss_is_overfitting():
    over = rows([0.6, 0.8, 0.95, 1.0, 1.0], [0.55, 0.7, 0.72, 0.7, 0.69], [1.2, 0.9, 0.95, 1.1, 1.3])
    found = ids(classify(trace_of(DECAY), over, SPEC))
    assert list(found) == ["overfitting"] and found["overfitting"].severity == "warning"
    assert round(found["overfitting"].facts["gap"], 3) == 0.310
    healthy = rows([0.6, 0.8, 0.95, 0.98, 0.99], [0.6, 0.78, 0.93, 0.95, 0.96], [1.2, 0.7, 0.4, 0.35, 0.33])
    assert classify(trace_of(DECAY), healthy, SPEC) == []
    gap, acc = [0.6, 0.8, 0.95, 0.98, 0.99], [0.6, 0.78, 0.85, 0.87, 0.87]
    past_best = rows(gap, acc, [1.2, 0.7, 0.5, 0.47, 0.48])          # past its minimum, not rising 10 %
    assert ids(classify(trace_of(DECAY), past_best, SPEC))["overfitting"].severity == "warning"  # memorized: 0.99
    not_memorized = rows([0.6, 0.8, 0.95, 0.97, 0.98], acc, [1.2, 0.7, 0.5, 0.47, 0.48])
    assert ids(classify(trace_of(DECAY), not_memorized, SPEC))["overfitting"].severity == "info"
    improving = rows(gap, acc, [1.2, 0.7, 0.5, 0.48, 0.47])          # val loss still at its best
    assert classify(trace_of(DECAY), improving, SPEC) == []


def test_plateau_at_low_accuracy_is_underfitting_and_a_dominant_penalty_too_strong():
    curve = 1.9 + 0.4 * np.exp(-T / 40) + RNG.normal(0, 0.01, T.size)
    under = rows([0.25, 0.28, 0.3, 0.3, 0.3, 0.3], [0.26, 0.28, 0.3, 0.31, 0.3, 0.3], [2.0] * 6,
                 train_loss=[2.0, 1.92, 1.91, 1.9, 1.9, 1.9])
    found = ids(classify(trace_of(curve), under, SPEC))
    assert list(found) == ["underfitting"]
    spec = load_spec({"data": {"source": "digits"}, "regularize": {"l2": 0.5}, "optim": {"weight_decay": 0.0}})
    found = ids(classify(trace_of(curve), under, spec, {"RegShare": {"share": [0.8, 0.1, 0.05]}}))
    assert set(found) == {"underfitting", "reg_too_strong"}
    assert changes(found["reg_too_strong"], spec) == {"regularize.l2": [0.5, 0.05]}
    assert "reg_too_strong" not in ids(classify(trace_of(curve), under, spec, {"RegShare": {"share": [0.3, 0.1]}}))



def test_a_flat_loss_under_a_dominant_penalty_is_reg_too_strong():
    """SGD with weight_decay 0.5: the penalty is 87% of the objective at the first read, the weights go to
    ~0 and the loss stays at ln 10. The flat curve is the penalty's doing, not the lr's alone."""
    flat = 2.303 + RNG.normal(0, 0.005, T.size)
    under = rows([0.1] * 6, [0.1] * 6, [2.3] * 6, train_loss=[2.303] * 6)
    spec = load_spec({"data": {"source": "digits"}, "optim": {"name": "sgd", "lr": 0.05, "weight_decay": 0.5}})
    found = ids(classify(trace_of(flat), under, spec, {"RegShare": {"share": [0.87, 0.26, 0.003]}}))
    assert {"lr_too_low", "reg_too_strong"} <= set(found) and found["reg_too_strong"].facts["reg_share"] == 0.87
    assert "reg_too_strong" not in ids(classify(trace_of(flat), under, spec, {"RegShare": {"share": [0.3, 0.1]}}))
    assert "reg_too_strong" not in ids(classify(trace_of(flat), under, spec))


# ------------------------------------------------------------------ real runs, short
class Rows(Callback):
    def after_fit(self, trainer):
        self.rows = list(trainer.history.rows)


def curve_findings(spec_dict):
    spec = load_spec(spec_dict)
    instruments, rec = make_instruments(spec), Rows()
    try:
        train(spec, progress=False, callbacks=[*instruments, rec])
    except TrainingFailed:
        pass
    s = summaries(instruments)
    return ids(classify(s["LossTrace"], rec.rows, spec, s))


MLP = {"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [128, 64]},
       "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0}, "schedule": {"name": "constant"},
       "train": {"epochs": 8, "batch_size": 32}}


def test_real_runs():
    assert curve_findings(MLP) == {}
    noisy = curve_findings({**MLP, "train": {"epochs": 1, "batch_size": 2}})   # batch norm on 2 examples
    assert noisy["noisy_loss"].severity == "warning"
    over = curve_findings({"data": {"source": "mnist1d", "subset": 50, "augment": []},
                           "model": {"kind": "mlp", "hidden": [512, 512], "norm": "none"},
                           "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0}, "schedule": {"name": "constant"},
                           "train": {"epochs": 60, "batch_size": 32, "label_smoothing": 0.0}})
    assert over["overfitting"].severity == "warning"
    heavy = curve_findings({"data": {"source": "mnist1d"}, "model": {"kind": "linear"},
                            "optim": {"name": "sgd", "lr": 0.05, "weight_decay": 0.0}, "regularize": {"l2": 1.0},
                            "schedule": {"name": "constant"}, "train": {"epochs": 10}})
    assert set(heavy) == {"underfitting", "reg_too_strong"}
    low = curve_findings({**MLP, "optim": {"name": "sgd", "lr": 1e-6}})
    assert low["lr_too_low"].severity == "warning"
