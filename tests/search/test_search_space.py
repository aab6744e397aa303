"""The space file, the edge warnings and the coarse -> fine narrowing, against hand-computed numbers."""

import math
from types import SimpleNamespace

import pytest

from babysitter.errors import BadInput
from babysitter.search.refine import narrow_param, narrow_space, top_trials
from babysitter.search.space import Param, edge_warnings, grid_space, load_space, space_to_dict
from babysitter.spec import load_spec
from tests.conftest import run_main

BASE = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16]}})


def test_space_reads_log_int_and_choices():
    space = load_space({"optim.lr": {"low": 1e-6, "high": 1e-1, "log": True},
                        "train.batch_size": {"low": 16, "high": 128},
                        "model.activation": {"choices": ["relu", "tanh"]}}, BASE)
    assert space["optim.lr"] == Param("optim.lr", 1e-6, 1e-1, log=True)
    assert space["train.batch_size"].int  # both bounds ints -> an int range
    assert space["model.activation"].choices == ("relu", "tanh")
    assert load_space(space_to_dict(space), BASE) == space  # the stored form reads back


@pytest.mark.parametrize("entry, words", [
    ({"optim.lr": {"low": 0.1, "high": 0.01}}, "low (0.1) must be below high (0.01)"),
    ({"optim.lr": {"low": 0.1, "high": 0.1}}, "must be below high"),
    ({"optim.lr": {"low": 0.0, "high": 0.1, "log": True}}, "log range needs low > 0"),
    ({"optim.lrr": {"low": 0.01, "high": 0.1}}, "unknown key 'optim.lrr'"),
    ({"model.dropout": {"low": 0.1, "high": 1.5}}, "model.dropout = 1.5 is not a valid spec value"),
    ({"model.activation": {"choices": ["relu", "nope"]}}, "unknown activation 'nope'"),
    ({"optim.lr": {"low": 0.01}}, "needs both low and high"),
    ({"optim.lr": {"low": 0.01, "high": 0.1, "step": 2}}, "unknown key 'step'"),
])
def test_bad_space_is_one_line_bad_input(entry, words):
    with pytest.raises(BadInput) as e:
        load_space(entry, BASE)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_bad_space_file_exits_2(tmp_path, monkeypatch, capsys, write_spec):
    spec = write_spec({"data": {"source": "digits"}})
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {low: 1.0e-1, high: 1.0e-3, log: true}\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, "search", spec, "--space", space, "--trials", 2)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "low (0.1) must be below high (0.001)" in err
    assert not (tmp_path / "runs").exists()  # nothing written
    code, _, err = run_main(monkeypatch, capsys, "search", spec, "--space", tmp_path / "missing.yaml")
    assert code == 2 and "space file not found" in err


def test_edge_warnings_use_the_log_range():
    space = {"optim.lr": Param("optim.lr", 1e-6, 1e-3, log=True), "model.dropout": Param("model.dropout", 0.0, 0.5)}
    # log10 position of 9.1e-4 in [-6, -3]: (log10(9.1e-4) + 6) / 3 = 0.986 -> upper edge
    assert edge_warnings(space, {"optim.lr": 9.1e-4, "model.dropout": 0.25}) == [
        "optim.lr: best 0.00091 is at the upper edge of [1e-06, 0.001]; widen high"]
    # 2e-6: (log10(2e-6) + 6) / 3 = 0.100 -> lower edge; 1.3e-6 on a linear scale would be 0.0003 anyway
    assert edge_warnings(space, {"optim.lr": 1.9e-6})[0].endswith("lower edge of [1e-06, 0.001]; widen low")
    # 3e-5 is mid-range in log space (0.49) although at 3% of the linear range
    assert edge_warnings(space, {"optim.lr": 3e-5, "model.dropout": 0.04}) == [
        "model.dropout: best 0.04 is at the lower edge of [0, 0.5]; widen low"]


def test_grid_is_log_spaced():
    grid = grid_space({"optim.lr": Param("optim.lr", 1e-4, 1e-2, log=True),
                       "train.batch_size": Param("train.batch_size", 16, 64, int=True)}, points=3)
    assert grid["optim.lr"] == pytest.approx([1e-4, 1e-3, 1e-2])
    assert grid["train.batch_size"] == [16, 40, 64]


def _trial(lr, value, state="COMPLETE"):
    return SimpleNamespace(params={"optim.lr": lr}, value=value, state=SimpleNamespace(name=state))


def test_fine_range_spans_the_top_trials_plus_a_margin():
    p = Param("optim.lr", 1e-6, 1e-3, log=True)
    trials = [_trial(10 ** -(3 + i / 4), 1 - i / 20) for i in range(12)] + [_trial(1e-6, None, "FAIL")]
    top = top_trials(trials)
    assert [t.value for t in top] == [1.0, 0.95, 0.9, 0.85, 0.8]  # k = max(5, ceil(0.2 * 12)) = 5
    fine = narrow_space({"optim.lr": p}, trials)["optim.lr"]
    # top lrs 10^-3 .. 10^-4; margin 0.1 * 3 decades = 0.3: [10^-4.3, min(10^-2.7, 10^-3)]
    assert math.log10(fine.low) == pytest.approx(-4.3) and fine.high == pytest.approx(1e-3)
    ints = narrow_param(Param("train.batch_size", 16, 256, int=True), [64, 100])
    assert (ints.low, ints.high) == (40.0, 124.0)  # 64 - 24 = 40, 100 + 24 = 124
    act = narrow_param(Param("model.activation", choices=("relu", "tanh", "elu")), ["tanh", "tanh"])
    assert act.choices == ("tanh",)
