"""Lab activations: the dead-ReLU fraction against numpy, epochs-to-target against the curve, the CLI."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from babysitter.errors import BadInput
from babysitter.lab import activations
from tests.conftest import run_main


def _numpy_dead(layers, x: np.ndarray) -> float:
    """Forward an MLP of (W, b) pairs with ReLU in numpy; fraction of hidden units never > 0."""
    dead, units, h = 0, 0, x
    for w, b in layers[:-1]:
        h = np.maximum(h @ w.T + b, 0.0)
        dead += int((h.max(axis=0) <= 0).sum())
        units += h.shape[1]
    return dead / units


def test_dead_fraction_of_a_hand_made_net_equals_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    shapes = [(8, 5), (6, 8), (3, 6)]
    layers = [(rng.normal(size=s).astype(np.float32), rng.normal(size=s[0]).astype(np.float32)) for s in shapes]
    layers[0][1][[1, 4]] = -50.0      # two units of layer 1 pushed far below zero: dead on every input
    layers[1][1][2] = -50.0
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        for lin, (w, b) in zip([net[0], net[2], net[4]], layers):
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
    expected = _numpy_dead(layers, x)
    assert expected >= 3 / 14          # the planted units (and whatever else numpy finds)
    assert activations.dead_fraction(net, torch.from_numpy(x)) == pytest.approx(expected, abs=1e-7)
    assert net.training                # the probe restores the mode it found
    with torch.no_grad():
        net[0].weight[0, 0] = float("nan")
    assert activations.dead_fraction(net, torch.from_numpy(x)) is None   # a diverged net: no reading


def test_tiny_lab_run_summary_agrees_with_its_curves(tmp_path):
    s = activations.run(tmp_path / "lab", progress=False, epochs=3, activations=("relu", "tanh"), target_acc=0.2,
                        dead_lrs=(0.01, 30.0), dead_epochs=1, subset=400, hidden=(8, 8, 8))
    assert json.loads((tmp_path / "lab" / "summary.json").read_text()) == s
    assert [r["activation"] for r in s["runs"]] == ["relu", "tanh"]
    assert [r["init"] for r in s["runs"]] == ["he", "xavier"]
    for r in s["runs"]:
        curve = np.array(r["curve"])
        assert len(curve) == 3 and ((0 <= curve) & (curve <= 1)).all()
        reached = np.flatnonzero(curve >= 0.2)
        assert r["epochs_to_target"] == (int(reached[0]) + 1 if len(reached) else None)
    e = {r["activation"]: r["epochs_to_target"] for r in s["runs"]}
    if e["relu"] and e["tanh"]:
        assert s["relu_vs_tanh_speedup"] == pytest.approx(e["tanh"] / e["relu"])
    else:
        assert s["relu_vs_tanh_speedup"] is None
    assert [d["lr"] for d in s["dead_relu"]] == [0.01, 30.0]
    for d in s["dead_relu"]:
        assert d["diverged"] or 0.0 <= d["dead_fraction"] <= 1.0
    faster = next(c for c in s["claims"] if c["claim"] == "ReLU converges faster than tanh")
    assert faster["holds"] == (e["relu"] is not None and (e["tanh"] is None or e["tanh"] > e["relu"]))
    assert {p.rsplit("/", 1)[-1] for p in s["plots"]} == {"activations.png", "dead_relu.png"}
    assert all((tmp_path / "lab" / p.rsplit("/", 1)[-1]).stat().st_size > 1000 for p in s["plots"])


def test_bad_names_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(BadInput, match="unknown activation 'swish'; valid: sigmoid"):
        activations.run(tmp_path / "a", progress=False, activations=("relu", "swish"))
    with pytest.raises(BadInput, match="unknown dataset 'cifar'; valid: mnist1d"):
        activations.run(tmp_path / "a", progress=False, dataset="cifar")
    assert not (tmp_path / "a").exists()


def test_cli_json_and_exit_2(monkeypatch, capsys, tmp_path):
    out = tmp_path / "cli"
    code, stdout, _ = run_main(monkeypatch, capsys, "lab", "activations", "--out", out, "--dataset", "digits",
                               "--epochs", "1", "--activations", "relu", "--json")
    assert code in (0, None)
    s = json.loads(stdout)
    assert s == json.loads((out / "summary.json").read_text())
    assert s["dataset"] == "digits" and [r["activation"] for r in s["runs"]] == ["relu"]
    assert len(s["dead_relu"]) == len(activations.DEAD_LRS)
    before = (out / "summary.json").read_text()
    code, _, err = run_main(monkeypatch, capsys, "lab", "activations", "--out", out, "--json")
    assert code == 2 and "already exists" in err and (out / "summary.json").read_text() == before
    code, _, err = run_main(monkeypatch, capsys, "lab", "activations", "--activations", "relu,swish", "--json")
    assert code == 2 and err.startswith("babysit: error: unknown activation 'swish'")
