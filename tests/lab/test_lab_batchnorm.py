"""Lab batchnorm: spread, highest trainable lr and claims recomputed from the runs; the CLI."""

import json

import numpy as np
import pytest

from babysitter.errors import BadInput
from babysitter.lab import batchnorm
from tests.conftest import run_main


def test_tiny_grid_summary_agrees_with_its_runs(tmp_path):
    lrs, inits = (0.05, 0.01), ("small", "he")
    s = batchnorm.run(tmp_path / "lab", progress=False, epochs=1, lrs=lrs, inits=inits, hidden=(16, 16))
    assert json.loads((tmp_path / "lab" / "summary.json").read_text()) == s
    assert s["lrs"] == [0.01, 0.05]
    assert {(r["norm"], r["init"], r["lr"]) for r in s["runs"]} == \
        {(n, i, lr) for n in ("none", "batch") for i in inits for lr in lrs} and len(s["runs"]) == 8
    acc = {(r["norm"], r["init"], r["lr"]): r["val_acc"] for r in s["runs"]}
    assert s["trains_above"] == pytest.approx((0.1 + max(acc.values())) / 2)   # mnist1d: 10 classes
    for norm in ("none", "batch"):
        grid = np.array([[acc[norm, i, lr] for i in inits] for lr in s["lrs"]])   # (lrs, inits)
        assert s["spread"][norm] == pytest.approx(np.mean(grid.max(axis=1) - grid.min(axis=1)))
        for i in inits:
            ok = [lr for lr in s["lrs"] if acc[norm, i, lr] >= s["trains_above"]]
            assert s["highest_lr"][norm][i] == (max(ok) if ok else None)
    assert s["claims"][0]["holds"] == (s["spread"]["batch"] < s["spread"]["none"])
    assert (tmp_path / "lab" / "batchnorm.png").stat().st_size > 1000


def test_a_diverged_run_counts_as_zero(tmp_path):
    s = batchnorm.run(tmp_path / "lab", progress=False, epochs=1, lrs=(1e4,), inits=("he",), hidden=(16, 16))
    none = next(r for r in s["runs"] if r["norm"] == "none")
    assert none["diverged"] and none["val_acc"] == 0.0   # SGD at lr 1e4 without BN: the loss goes non-finite


def test_bad_grid_is_refused(tmp_path):
    with pytest.raises(BadInput, match="unknown init 'orthogonal'; valid: zeros, small"):
        batchnorm.run(tmp_path / "b", progress=False, inits=("he", "orthogonal"))
    with pytest.raises(BadInput, match="learning rates must be positive"):
        batchnorm.run(tmp_path / "b", progress=False, lrs=(0.1, -1.0))
    assert not (tmp_path / "b").exists()


def test_cli_json_and_exit_2(monkeypatch, capsys, tmp_path):
    code, stdout, _ = run_main(monkeypatch, capsys, "lab", "batchnorm", "--out", tmp_path / "cli", "--epochs", "1",
                               "--dataset", "digits", "--lrs", "0.1", "--inits", "he,xavier", "--json")
    assert code in (0, None)
    s = json.loads(stdout)
    assert s["dataset"] == "digits" and len(s["runs"]) == 4 and s["inits"] == ["he", "xavier"]
    code, _, err = run_main(monkeypatch, capsys, "lab", "batchnorm", "--lrs", "0.1,fast", "--json")
    assert code == 2 and err.startswith("babysit: error: expected a comma-separated list of float values")
