"""Every technique of the catalogue trains 2 epochs on digits from a spec, with a finite loss."""

import math

import pytest

from babysitter.catalog import catalog, registries
from babysitter.nn.activations import ACTIVATIONS
from babysitter.nn.init import INITS
from babysitter.nn.layers import DROPOUTS
from babysitter.optim.optimizers import OPTIMIZERS
from babysitter.optim.schedules import SCHEDULES
from babysitter.train.run import train

BASE = {"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32]}, "train": {"epochs": 2}}


def _with(**sections):
    spec = {k: dict(v) for k, v in BASE.items()}
    for key, value in sections.items():
        spec.setdefault(key, {}).update(value)
    return spec


CASES = (
    [("activation " + a, _with(model={"activation": a})) for a in ACTIVATIONS]
    + [("init " + i, _with(model={"init": i, "norm": "none"})) for i in INITS]
    + [("dropout " + d, _with(model={"dropout": 0.3, "dropout_kind": d})) for d in DROPOUTS]
    + [("optimizer " + o, _with(optim={"name": o, "lr": {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05,
                                                       "adagrad": 0.05, "lbfgs": 0.5}.get(o, 0.002)},
                                schedule={"name": "constant"}))
       for o in OPTIMIZERS if o != "newton"]
    + [("optimizer newton", _with(model={"kind": "linear"}, optim={"name": "newton", "lr": 1.0},
                                  schedule={"name": "constant"}, train={"batch_size": 2000}))]
    + [(f"schedule {s} ({u})", _with(schedule={"name": s, "unit": u})) for s in SCHEDULES for u in ("step", "epoch")]
    + [("stochastic depth", _with(model={"kind": "resnet", "hidden": [8, 16], "stochastic_depth": 0.5}))]
    + [("fractional pooling", _with(model={"kind": "cnn", "hidden": [8, 16], "pool": "fractional", "convs": 1}))]
    + [("l1 + l2 + max-norm", _with(regularize={"l1": 1e-4, "l2": 1e-3, "max_norm": 2.0}))]
    + [("clipping", _with(train={"clip_value": 0.5, "clip_norm": 1.0}))]
    + [("snapshot ensemble", _with(train={"ensemble": {"kind": "snapshot", "cycles": 2}}))]
    + [("polyak ensemble", _with(train={"ensemble": {"kind": "polyak", "decay": 0.9}}))]
    + [("independent ensemble", _with(train={"ensemble": {"kind": "independent", "members": 2}}))]
    + [("augment " + a, _with(data={"augment": [a]}, model={"kind": "cnn", "hidden": [8], "convs": 1}))
       for a in ("flip", "crop:1", "shift:1", "jitter:0.2")]
)


@pytest.mark.parametrize("name, spec", CASES, ids=[c[0] for c in CASES])
def test_trains_two_epochs_with_a_finite_loss(name, spec):
    final = train(spec, progress=False)
    assert math.isfinite(final["test_loss"])
    assert final["epochs"] == 2
    if "ensemble" in name:
        assert math.isfinite(final["ensemble_test_acc"]) and len(final["members"]) >= 1


def test_catalogue_names_every_registered_technique_with_a_formula():
    entries = catalog()
    listed = {(e["key"], e["name"]) for e in entries}
    for key, names in registries().items():
        for name in names:
            assert (key, name) in listed
    no_formula = [(e["key"], e["name"]) for e in entries if not e["formula"]]
    assert no_formula == []
