"""Lecture 6's init experiment: the issue's five claims on the lab's real output (through the CLI),
and the per-layer statistics against numpy's own forward pass of the same weights."""

import json

import numpy as np
import pytest
import torch

from babysitter.lab import init_stats
from tests.conftest import run_main


def test_cli_reproduces_the_lecture(tmp_path, monkeypatch, capsys):
    out = tmp_path / "lab"
    code, stdout, _ = run_main(monkeypatch, capsys, "lab", "init-stats", "--out", out, "--json")
    assert code in (0, None)
    summary = json.loads(stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    assert (out / "init_stats.png").stat().st_size > 10_000 and (out / "init_stats_std.png").is_file()
    runs = {(r["init"], r["activation"]): r["layers"] for r in summary["runs"]}
    assert len(runs) == 8 and all(len(layers) == 10 for layers in runs.values())
    # the checks, on the measured numbers (not on the lab's own pass flags)
    assert runs["small", "tanh"][-1]["std"] < 1e-3
    assert runs["normal", "tanh"][-1]["saturated"] > 0.5
    assert runs["xavier", "tanh"][-1]["std"] > 0.1 and runs["xavier", "tanh"][-1]["saturated"] < 0.1
    he = runs["he", "relu"]
    assert 0.25 <= he[-1]["std"] / he[0]["std"] <= 4.0
    xr = runs["xavier", "relu"]
    assert xr[-1]["std"] / xr[0]["std"] < 0.1
    # ... and the lab's own verdicts agree with them
    assert [c["holds"] for c in summary["claims"]] == [True] * 5
    assert {tuple(c) for c in summary["claims"]} == {("claim", "measured", "holds")}
    assert summary["claims"][0]["measured"] == runs["small", "tanh"][-1]["std"]
    # relu zeros are about half the units whatever the init (the sign of a symmetric pre-activation)
    assert all(0.4 < layer["saturated"] < 0.6 for (_, a), layers in runs.items() if a == "relu" for layer in layers[:3])

    # nothing on disk is overwritten without --force
    before = (out / "summary.json").read_text()
    code, _, err = run_main(monkeypatch, capsys, "lab", "init-stats", "--out", out, "--seed", "1", "--json")
    assert code == 2 and "already exists" in err and (out / "summary.json").read_text() == before


@pytest.mark.parametrize("init, activation", [("xavier", "tanh"), ("he", "relu"), ("normal", "tanh")])
def test_layer_statistics_match_numpy(init, activation):
    stats, hs = init_stats.experiment(init, activation, seed=3, layers=4, width=60, examples=200)
    torch.manual_seed(3)   # experiment() draws x first from this seed
    x = torch.randn(200, 60).numpy().astype(np.float64)
    weights = [m.weight for m in _same_net(init, activation, seed=3)]
    f = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    for layer, w in zip(stats["layers"], weights):
        x = f(x @ w.detach().numpy().astype(np.float64).T)
        assert layer["mean"] == pytest.approx(x.mean(), rel=1e-4, abs=1e-6)
        assert layer["std"] == pytest.approx(x.std(ddof=1), rel=1e-4)
        sat = np.abs(x) > 0.99 if activation == "tanh" else x == 0
        assert layer["saturated"] == pytest.approx(sat.mean(), abs=2e-3)


def _same_net(init, activation, seed):
    """The weights experiment() drew: same seed schedule, read back from the module."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        torch.randn(200, 60)
        torch.manual_seed(seed * 100 + 1 + list(init_stats.INITS).index(init))
        net = init_stats.deep_net(init, activation, layers=4, width=60)
    return [m for m in net if isinstance(m, torch.nn.Linear)]


def test_init_scales_are_the_lectures():
    """std of each init's weights for a 500 x 500 layer: 0.01, 1, 1/sqrt(500), sqrt(2/500)."""
    torch.manual_seed(0)
    expected = {"small": 0.01, "normal": 1.0, "xavier": 500 ** -0.5, "he": (2 / 500) ** 0.5}
    for init, std in expected.items():
        w = init_stats.deep_net(init, "tanh", layers=1, width=500)[0].weight
        assert w.std().item() == pytest.approx(std, rel=0.01)
        assert init_stats.deep_net(init, "tanh", layers=1, width=500)[0].bias is None


def test_histograms_count_every_value():
    _, hs = init_stats.experiment("xavier", "relu", seed=0, layers=3, width=40, examples=50)
    hist = init_stats.histograms(hs, "relu", bins=10)
    for h, counts in zip(hs, hist["counts"]):
        assert sum(counts) == (h > 0).sum().item()   # relu: the values > 0; zeros are "saturated"
        np.testing.assert_array_equal(counts, np.histogram(h[h > 0].numpy(), bins=np.array(hist["edges"]))[0])


def test_unknown_names_are_bad_input(tmp_path):
    from babysitter.errors import BadInput

    with pytest.raises(BadInput, match="valid|inits"):
        init_stats.run(tmp_path / "x", progress=False, inits=("small", "gaussian"))
    assert not (tmp_path / "x").exists()
