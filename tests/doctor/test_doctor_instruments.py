"""The in-run instruments against independent computations (numpy on what a recorder saw)."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from babysitter.doctor.instruments import (
    Activations,
    GradNorms,
    LossTrace,
    NonFinite,
    RegShare,
    SymmetricWeights,
    UpdateRatio,
    duplicate_fraction,
    make_instruments,
    summaries,
)
from babysitter.doctor.readers.instruments import activation_findings, findings
from babysitter.errors import TrainingFailed
from babysitter.spec import load_spec
from babysitter.train.events import Callback
from babysitter.train.run import build, train
from babysitter.train.trainer import Trainer


def tiny_spec(every=3, **over):
    spec = {"data": {"source": "npz"}, "model": {"kind": "python"},
            "optim": {"name": "sgd", "lr": 0.1, "weight_decay": 0.0}, "schedule": {"name": "constant"},
            "train": {"epochs": 2, "batch_size": 16}, "doctor": {"every": every}}
    for key, value in over.items():
        section, name = key.split("__")
        spec.setdefault(section, {})[name] = value
    return load_spec(spec)


def tiny_arrays(n=96, d=6, classes=3, seed=0):
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y % classes, x[:16], y[:16] % classes


class Recorder(Callback):
    """Copies of the weights after every step, gradients and losses: the independent record."""

    def __init__(self):
        self.weights, self.grads, self.losses = [], [], []

    def before_fit(self, trainer):
        self.layers = [m for m in trainer.model.modules() if isinstance(m, (nn.Linear, nn.Conv1d))]
        self.weights.append([m.weight.detach().numpy().copy() for m in self.layers])

    def after_backward(self, trainer):
        self.grads.append([m.weight.grad.numpy().copy() for m in self.layers])

    def after_step(self, trainer):
        self.weights.append([m.weight.detach().numpy().copy() for m in self.layers])
        self.losses.append(float(trainer.loss.detach()))


def fit(model, spec, instruments, arrays=None):
    model, data = build(spec, model, tiny_arrays() if arrays is None else arrays)
    rec = Recorder()
    trainer = Trainer(model, data, spec, callbacks=[*instruments, rec], progress=False)
    trainer.fit()
    return trainer, rec


def mlp(d=6, h=8, c=3, act=nn.ReLU):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, h), act(), nn.Linear(h, c))


def test_update_ratio_is_the_step_change_over_the_weight():
    spec = tiny_spec(every=3)
    ur = UpdateRatio(3)
    trainer, rec = fit(mlp(), spec, [ur])
    steps = ur.summary()["steps"]
    assert steps == list(range(1, trainer.step + 1, 3)) and len(steps) >= 4
    ratios = ur.summary()["ratio"]
    for k, step in enumerate(steps):
        for j, name in enumerate(ur.names):
            before, after = rec.weights[step - 1][j], rec.weights[step][j]
            expected = np.linalg.norm(after - before) / np.linalg.norm(before)
            assert ratios[name][k] == pytest.approx(expected, rel=1e-5)
    assert ur.names == ["0", "2"]


def test_grad_norms_are_the_norms_of_the_gradients():
    spec = tiny_spec(every=4)
    gn = GradNorms(4)
    trainer, rec = fit(mlp(), spec, [gn])
    s = gn.summary()
    assert s["steps"] == list(range(1, trainer.step + 1, 4))
    for k, step in enumerate(s["steps"]):
        norms = [float(np.linalg.norm(g)) for g in rec.grads[step - 1]]
        assert [s["norm"][n][k] for n in s["layers"]] == pytest.approx(norms, rel=1e-5)
        assert s["first_last"][k] == pytest.approx(norms[0] / norms[-1], rel=1e-5)


class Outputs:
    """A forward hook keeping the training-mode outputs of one module, one per step."""

    def __init__(self, module):
        self.out = []
        module.register_forward_hook(lambda m, i, o: self.out.append(o.detach().numpy().copy()) if m.training else None)


def test_dead_fraction_counts_units_never_positive_over_the_window():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].bias[:3] = -50.0          # three units can never fire
        model[0].bias[3] = -2.0            # one fires rarely
    spec = tiny_spec(every=2, optim__lr=0.01)
    act = Activations(2, window=3)
    seen = Outputs(model[1])
    trainer, _ = fit(model, spec, [act])
    s = act.summary()
    due = [step - 1 for step in s["steps"]]
    assert due == list(range(0, trainer.step, 2))
    for k, i in enumerate(due):
        window = [seen.out[j] for j in due[max(0, k - 2):k + 1]]
        ever = np.any([(a > 0).any(0) for a in window], axis=0)
        assert s["dead"]["1"][k] == pytest.approx(1 - ever.mean())
        assert s["mean"]["1"][k] == pytest.approx(seen.out[i].mean(), rel=1e-5)
        assert s["std"]["1"][k] == pytest.approx(seen.out[i].std(ddof=1), rel=1e-4)
    assert s["dead"]["1"][-1] >= 3 / 8


def test_dead_fraction_is_per_channel_for_convolutions():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (1, 6)), nn.Conv1d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(24, 3))
    with torch.no_grad():
        model[1].bias[0] = -100.0
    act = Activations(3, window=2)
    seen = Outputs(model[2])
    trainer, _ = fit(model, tiny_spec(every=3, optim__lr=0.01), [act])
    s = act.summary()
    due = [step - 1 for step in s["steps"]]
    for k, i in enumerate(due):
        window = [seen.out[j] for j in due[max(0, k - 1):k + 1]]
        ever = np.any([(a > 0).any(axis=(0, 2)) for a in window], axis=0)
        assert s["dead"]["2"][k] == pytest.approx(1 - ever.mean())
    assert s["dead"]["2"][-1] == pytest.approx(0.25)


class FunctionalNet(nn.Module):
    """ReLU and tanh as functions, not modules: no module hook can see them."""

    def __init__(self, act):
        super().__init__()
        self.act, self.fc1, self.fc2, self.fc3 = act, nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))


def test_functional_relu_dead_units_are_read_at_the_next_layer_s_input():
    torch.manual_seed(0)
    model = FunctionalNet(torch.relu)
    with torch.no_grad():
        model.fc2.bias[:5] = -50.0        # five of fc2's eight units never fire
    act = Activations(2, window=3)
    seen = Outputs(model.fc2)             # the independent record: relu(fc2's output) is fc3's input
    trainer, _ = fit(model, tiny_spec(every=2, optim__lr=0.01), [act])
    s = act.summary()
    assert "input of fc1" in s["layers"] and s["dead"]["input of fc1"][-1] is None   # the data layer: skipped
    due = [step - 1 for step in s["steps"]]
    for k, i in enumerate(due):
        window = [np.maximum(seen.out[j], 0) for j in due[max(0, k - 2):k + 1]]
        ever = np.any([(a != 0).any(0) for a in window], axis=0)
        assert s["dead"]["input of fc3"][k] == pytest.approx(1 - ever.mean())
    assert s["dead"]["input of fc3"][-1] >= 5 / 8
    assert [f.id for f in activation_findings(s, tiny_spec())] == ["dead_relu"]


def test_functional_tanh_and_modules_with_relu_get_no_input_reading():
    torch.manual_seed(0)
    act = Activations(2, window=3)
    fit(FunctionalNet(torch.tanh), tiny_spec(every=2, optim__lr=0.01), [act])
    s = act.summary()
    assert all(v is None or v == 0.0 for n, v in s["last"]["dead"].items())   # tanh: no exact zeros
    act = Activations(2, window=3)
    fit(mlp(), tiny_spec(every=2), [act])
    assert not any(n.startswith("input of") for n in act.summary()["layers"])   # the ReLU module is read


@pytest.mark.parametrize("act, kind", [(nn.Tanh, "tanh"), (nn.Sigmoid, "sigmoid")])
def test_saturated_fraction_matches_numpy(act, kind):
    torch.manual_seed(0)
    model = mlp(act=act)
    with torch.no_grad():
        model[0].weight.mul_(16.0)         # large pre-activations: many outputs saturate
    a = Activations(2)
    seen = Outputs(model[1])
    fit(model, tiny_spec(every=2, optim__lr=0.01), [a])
    s = a.summary()
    assert s["kinds"]["1"] == kind
    for k, step in enumerate(s["steps"]):
        out = seen.out[step - 1]
        sat = np.abs(out) > 0.99 if kind == "tanh" else (out < 0.01) | (out > 0.99)
        assert s["saturated"]["1"][k] == pytest.approx(sat.mean())
    assert s["saturated"]["1"][0] > 0.3
    assert s["dead"]["1"] == [None] * len(s["steps"])   # dead is a ReLU notion


def test_activation_hooks_exist_only_during_due_steps():
    model = mlp()
    counts = []

    class Count(Callback):
        def after_forward(self, trainer):
            counts.append(len(model[1]._forward_hooks))

    act = Activations(5)
    fit(model, tiny_spec(every=5), [act, Count()])
    assert counts[:11] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    assert len(model[1]._forward_hooks) == 0        # removed after the fit


def test_duplicate_fraction():
    assert float(duplicate_fraction(torch.zeros(5, 4))) == 1.0
    torch.manual_seed(0)
    w = torch.randn(6, 4)
    assert float(duplicate_fraction(w)) == 0.0
    w[1] = w[0] * (1 + 1e-8)                 # equal within 1e-6 relative
    w[3] = w[2] + 1e-3                       # not equal
    assert float(duplicate_fraction(w)) == pytest.approx(2 / 6)
    assert float(duplicate_fraction(torch.randn(8, 2, 3))) == 0.0   # conv weights: rows are out-channels


def pairwise_duplicates(w: torch.Tensor, rtol: float = 1e-6) -> float:
    """The definition itself, pair by pair in float64 (no projection, no cdist)."""
    rows = w.detach().flatten(1)[:256].double()
    same = [any(j != i and float((rows[i] - rows[j]).norm()) <= rtol * max(float(rows[i].norm()), float(rows[j].norm()))
                for j in range(len(rows))) for i in range(len(rows))]
    return sum(same) / len(rows) if len(rows) > 1 else 0.0


@pytest.mark.parametrize("case", ["random", "wide", "repeated", "inside", "outside", "zero_rows", "scaled", "tall"])
def test_duplicate_fraction_is_the_definition_whatever_the_projections_skip(case):
    """The projections only skip layers that cannot hold a duplicate pair: the fraction equals the
    pairwise definition on layers with none, with exact and near repeats, and with pairs just
    outside the tolerance (1e-6 relative)."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(300 if case == "tall" else 40, 512 if case == "wide" else 24, generator=g)
    if case == "repeated":
        w[5], w[17] = w[3], w[3]
    if case == "inside":
        w[7] = w[2] * (1 + 4e-7)
    if case == "outside":
        w[7] = w[2] + 3e-6 * w[2].norm() / w.shape[1] ** 0.5
    if case == "zero_rows":
        w[:3] = 0
    if case == "scaled":
        w[9] = 2 * w[4]                          # parallel, not equal
    if case == "tall":
        w[299] = w[0]                            # beyond the 256 units compared: not counted
        w[255] = w[10]
    assert float(duplicate_fraction(w)) == pytest.approx(pairwise_duplicates(w), abs=1e-7)


def test_symmetric_weights_on_zero_init_and_random_init():
    fractions = {}
    for init in ("zeros", "he"):
        spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16, 16], "norm": "none",
                                                                  "init": init},
                          "optim": {"name": "sgd", "lr": 0.1}, "train": {"epochs": 2}, "doctor": {"every": 5}})
        sym = SymmetricWeights(5, check_every=2)
        model, data = build(spec)
        Trainer(model, data, spec, callbacks=[sym], progress=False).fit()
        s = sym.summary()
        assert s["steps"][:3] == [1, 11, 21]
        fractions[init] = s["last"]
        found = [f.id for f in findings({"SymmetricWeights": s}, spec)]
        assert found == (["symmetric_weights"] if init == "zeros" else [])
    assert fractions["zeros"] == {"fc1": 1.0, "fc2": 1.0, "head": 1.0}
    assert fractions["he"] == {"fc1": 0.0, "fc2": 0.0, "head": 0.0}


def test_loss_trace_windows_equal_numpy_on_the_step_losses():
    lt = LossTrace(5)
    trainer, rec = fit(mlp(), tiny_spec(every=5, train__epochs=4), [lt])
    losses = np.array(rec.losses)
    assert trainer.step == len(losses) == 24
    s = lt.summary()
    assert s["steps"] == [5, 10, 15, 20, 24]        # the last, partial window closes at fit end
    assert s["first_loss"] == pytest.approx(losses[0])
    for k, (lo, hi) in enumerate([(0, 5), (5, 10), (10, 15), (15, 20), (20, 24)]):
        w = losses[lo:hi]
        t = np.arange(len(w))
        slope, icept = np.polyfit(t, w, 1)
        resid = w - (slope * t + icept)
        assert s["mean"][k] == pytest.approx(w.mean(), rel=1e-5)
        assert s["std"][k] == pytest.approx(w.std(), rel=1e-3, abs=1e-6)
        assert s["slope"][k] == pytest.approx(slope, rel=1e-3, abs=1e-6)
        assert s["noise"][k] == pytest.approx(np.sqrt((resid ** 2).mean()), rel=1e-2, abs=1e-5)
    assert s["first_window_loss"] == s["mean"][0]


def test_reg_share_is_penalty_over_objective():
    spec = tiny_spec(every=4, regularize__l2=0.05)
    rs = RegShare(4)
    trainer, rec = fit(mlp(), spec, [rs])
    s = rs.summary()
    for k, step in enumerate(s["steps"]):
        pen = 0.05 * sum(float((w.astype(np.float64) ** 2).sum()) for w in rec.weights[step])
        loss = rec.losses[step - 1]
        assert s["penalty"][k] == pytest.approx(pen, rel=1e-5)
        assert s["share"][k] == pytest.approx(pen / (loss + pen), rel=1e-5)
    none = RegShare(4)
    fit(mlp(), tiny_spec(every=4), [none])
    assert none.summary()["active"] is False


def test_non_finite_stops_the_run_at_a_due_step():
    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [64, 64], "norm": "none"},
                      "optim": {"name": "sgd", "lr": 1e4}, "schedule": {"name": "constant"},
                      "train": {"epochs": 3, "batch_size": 32}})
    instruments = make_instruments(spec)
    nf = next(i for i in instruments if isinstance(i, NonFinite))
    model, data = build(spec)
    trainer = Trainer(model, data, spec, callbacks=instruments, progress=False)
    with pytest.raises(TrainingFailed, match="loss_not_finite"):
        trainer.fit()
    assert trainer.stop_reason.startswith("loss_not_finite: loss became nan at step 26")
    assert trainer.step == 26 < trainer.steps_per_epoch and trainer.epoch == 0   # stopped at once
    assert nf.stopped["last_finite_step"] == 1 and math.isfinite(nf.stopped["last_finite_loss"])
    f = findings({"NonFinite": nf.summary()}, spec)
    assert [x.id for x in f] == ["loss_not_finite"] and f[0].severity == "error"
    everything = summaries(instruments)
    json.dumps(everything, allow_nan=False)
    assert everything["GradNorms"]["non_finite"] > 0
    assert {"loss_not_finite", "exploding_gradients", "lr_too_high"} <= {x.id for x in findings(everything, spec)}


def test_state_dict_round_trip_through_a_checkpoint(tmp_path):
    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16]},
                      "train": {"epochs": 2}, "doctor": {"every": 4}})
    instruments = make_instruments(spec)
    assert all(i.every == 4 for i in instruments)
    train(spec, tmp_path / "run", progress=False, callbacks=instruments)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["callbacks"]
    fresh = make_instruments(spec)
    for inst in fresh:
        inst.load_state_dict(saved[type(inst).__name__])
    old, new = summaries(instruments), summaries(fresh)
    json.dumps(old, allow_nan=False)                  # strict JSON: non-finite numbers are None
    for name in ("UpdateRatio", "GradNorms", "Activations", "SymmetricWeights", "RegShare"):
        assert new[name] == old[name], name
    assert new["LossTrace"]["mean"] == old["LossTrace"]["mean"][:len(new["LossTrace"]["mean"])]


def test_an_error_in_an_instrument_names_it():
    from babysitter.train.events import CallbackError

    class Broken(GradNorms):
        def after_backward(self, trainer):
            raise ValueError("boom")

    with pytest.raises(CallbackError, match="Broken.after_backward failed: ValueError: boom"):
        fit(mlp(), tiny_spec(), [Broken(3)])
    with pytest.raises(ValueError, match="UpdateRatio: every must be a positive integer"):
        UpdateRatio(0)


# ------------------------------------------------------------------ real runs, short
def run(spec_dict):
    spec = load_spec(spec_dict)
    instruments = make_instruments(spec)
    try:
        train(spec, progress=False, callbacks=instruments)
    except TrainingFailed:
        pass
    return {f.id: f for f in findings(summaries(instruments), spec)}


DIGITS_MLP = {"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [128, 64]},
              "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0}, "schedule": {"name": "constant"},
              "train": {"epochs": 8, "batch_size": 32}}


def with_(base, **over):
    import copy

    spec = copy.deepcopy(base)
    for key, value in over.items():
        section, name = key.split("__")
        spec[section][name] = value
    return spec


def test_healthy_mlp_has_no_warnings():
    found = run(DIGITS_MLP)   # he init, batch norm, Adam 1e-3
    assert not [f for f in found.values() if f.severity in ("error", "warning")], found


def test_faults_are_found():
    high = run(with_(DIGITS_MLP, optim__name="sgd", optim__lr=5.0))
    assert high["lr_too_high"].severity == "warning"
    adam = run(with_(DIGITS_MLP, optim__lr=0.5))
    assert adam["lr_too_high"].severity == "warning" and adam["lr_too_high"].score > 0.7   # peak ratio ~3
    low = run(with_(DIGITS_MLP, optim__name="sgd", optim__lr=1e-6))
    assert low["lr_too_low"].severity == "warning" and "lr_too_high" not in low
    dead = run(with_(DIGITS_MLP, model__norm="none", model__hidden=[256, 256], optim__name="sgd", optim__lr=1.0))
    assert dead["dead_relu"].severity == "warning" and dead["dead_relu"].score > 0.5
    deep = [64] * 9
    vanish = run(with_(DIGITS_MLP, model__hidden=deep, model__activation="tanh", model__init="small",
                       model__norm="none", optim__name="sgd", optim__lr=0.1, train__epochs=3))
    assert vanish["vanishing_gradients"].severity == "warning" and vanish["vanishing_gradients"].layer == "fc1"
    saturated = run(with_(DIGITS_MLP, model__hidden=deep, model__activation="tanh", model__init="normal",
                          model__norm="none", optim__name="sgd", optim__lr=0.01, train__epochs=3))
    assert saturated["saturated_units"].severity == "warning" and saturated["saturated_units"].score > 0.5
