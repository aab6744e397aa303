"""Bad input: exit status 2, at most 3 lines on stderr, no traceback, nothing overwritten."""


import subprocess
import sys

import numpy as np
import pytest
import yaml

from tests.conftest import babysit, run_main

GOOD = {"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16]}, "train": {"epochs": 1}}



def _npz(tmp_path, x, y, name="d.npz"):
    p = tmp_path / name
    np.savez(p, x=x, y=y)
    return str(p)


def bad_specs(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    y = np.arange(50) % 3
    nan_x = x.copy()
    nan_x[3, 1] = np.nan
    inf_x = x.copy()
    inf_x[5, 0] = np.inf
    (tmp_path / "wrongshape.py").write_text(
        "import torch\ndef make():\n    return torch.nn.Linear(7, 3)\n")
    return {
        "unknown key": {**GOOD, "optim": {"lrr": 0.1}},
        "unknown activation": {**GOOD, "model": {"activation": "relux"}},
        "unknown source": {"data": {"source": "imagenet"}},
        "unknown optimizer": {**GOOD, "optim": {"name": "adamw9"}},
        "negative lr": {**GOOD, "optim": {"lr": -0.1}},
        "batch size 0": {**GOOD, "train": {"batch_size": 0}},
        "wrong type": {**GOOD, "train": {"epochs": "ten"}},
        "label too large": {"data": {"source": "npz", "path": _npz(tmp_path, x, np.where(y == 2, 5, y), "a.npz")}},
        "negative label": {"data": {"source": "npz", "path": _npz(tmp_path, x, np.where(y == 2, -1, y), "b.npz")}},
        "nan input": {"data": {"source": "npz", "path": _npz(tmp_path, nan_x, y, "c.npz")}},
        "inf input": {"data": {"source": "npz", "path": _npz(tmp_path, inf_x, y, "e.npz")}},
        "shape mismatch": {"data": {"source": "npz", "path": _npz(tmp_path, x, y, "f.npz")},
                           "model": {"kind": "python", "factory": "wrongshape:make"}},
        "cnn on 4-d samples": {"data": {"source": "npz", "path": _npz(tmp_path, x.reshape(50, 1, 1, 2, 2), y, "g.npz")}},
        "missing file": {"data": {"source": "mnist", "path": str(tmp_path / "nowhere")}},
        "flip on sequences": {"data": {"source": "mnist1d", "augment": ["flip"]}},
        "newton on a big model": {"data": {"source": "digits"}, "optim": {"name": "newton", "lr": 1.0}},
    }


CASES = ["unknown key", "unknown activation", "unknown source", "unknown optimizer", "negative lr", "batch size 0",
         "wrong type", "label too large", "negative label", "nan input", "inf input", "shape mismatch",
         "cnn on 4-d samples", "missing file", "flip on sequences",
         "newton on a big model"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_in_one_line_and_keeps_the_run_dir(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(bad_specs(tmp_path)[case]))
    existing = tmp_path / "run"
    existing.mkdir()
    (existing / "keep.txt").write_text("precious")
    code, out, err = run_main(monkeypatch, capsys, "train", spec, "--out", existing, "--force")
    assert code == 2, err
    assert 1 <= len(err.strip().splitlines()) <= 3, err
    assert "Traceback" not in err
    assert out == ""
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    assert (existing / "keep.txt").read_text() == "precious"


def test_broken_yaml(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "broken.yaml"
    spec.write_text("data: {source: digits\nmodel: [\n")
    code, _, err = run_main(monkeypatch, capsys, "train", spec, "--out", tmp_path / "r")
    assert code == 2 and "broken YAML" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_existing_run_dir_without_resume_or_force(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(GOOD))
    existing = tmp_path / "run"
    existing.mkdir()
    (existing / "metrics.jsonl").write_text("old\n")
    code, _, err = run_main(monkeypatch, capsys, "train", spec, "--out", existing)
    assert code == 2 and "--resume" in err and "--force" in err
    assert (existing / "metrics.jsonl").read_text() == "old\n"


def test_refuses_a_checkpoint_with_arbitrary_pickled_objects(tmp_path, monkeypatch, capsys):
    import torch

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(GOOD))
    run = tmp_path / "run"
    code, _, _ = run_main(monkeypatch, capsys, "train", spec, "--out", run, "--quiet")
    assert code in (0, None)
    torch.save({"model": {}, "evil": np.random.default_rng(0)}, run / "checkpoints" / "last.pt")
    code, _, err = run_main(monkeypatch, capsys, "train", "--resume", run, "--quiet")
    assert code == 2 and "arbitrary pickled objects" in err and "Traceback" not in err


def test_console_script_end_to_end_json(tmp_path, write_spec):
    """The real process: --json prints exactly one JSON object on stdout."""
    import json

    p = babysit("train", write_spec(GOOD), "--out", tmp_path / "run", "--json", check=True)
    result = json.loads(p.stdout)
    assert 0.0 <= result["test_acc"] <= 1.0 and result["epochs"] == 1
    bad = babysit("train", write_spec({**GOOD, "optim": {"lr": 0}}, "bad.yaml"), "--out", tmp_path / "r2")
    assert bad.returncode == 2 and bad.stdout == "" and "optim.lr" in bad.stderr


@pytest.mark.parametrize("argv", [
    ["watch", "s.py"],
    ["watch", "--quiet", "--no-probes", "--out", "runs/x", "s.py", "--epochs", "3", "-q"],
    ["watch", "--json", "-q", "--budget=2.5", "--every", "5", "--render", "none", "--tensorboard", "s.py", "a"],
    ["watch", "--probes", "--budget", "0", "s.py"],
])
def test_the_console_script_reads_watch_as_typer_does(argv):
    """`babysit watch` is read without typer (its start-up is part of the watch overhead): the
    values and the script's own argv must be exactly those of typer's parse of the same words."""
    import typer.main

    from babysitter.watching import parse_watch
    from babysitter.cli import app

    script, extra, options = parse_watch(argv[1:])
    ctx = typer.main.get_command(app).commands["watch"].make_context("watch", list(argv[1:]))
    assert {"script": script, **options} == ctx.params and extra == ctx.args


def test_watch_declares_for_typer_exactly_the_options_the_console_script_reads():
    import typer.main

    from babysitter.watching import WATCH_DEFAULTS, WATCH_FLAGS, WATCH_OPTIONS
    from babysitter.cli import app

    params = [p for p in typer.main.get_command(app).commands["watch"].params if p.param_type_name == "option"]
    words = {o for p in params for o in (*p.opts, *p.secondary_opts)}
    assert words == set(WATCH_FLAGS) | set(WATCH_OPTIONS)
    assert {p.name: p.default for p in params} == WATCH_DEFAULTS


@pytest.mark.parametrize("argv", [["watch", "--help"], ["watch", "--budget", "x", "s.py"], ["watch", "--bogus", "s.py"],
                                  ["watch"], ["watch", "--out"], ["watch", "-qq", "s.py"], ["watch", "--json=1", "s.py"]])
def test_anything_the_console_script_cannot_read_goes_to_typer(argv):
    from babysitter.watching import parse_watch

    assert parse_watch(argv[1:]) is None


def test_a_watched_script_runs_without_typer_or_the_other_verbs(tmp_path):
    """The console script's `babysit watch`: the script runs in the watch's process, and can see
    what that process imported."""
    script = tmp_path / "s.py"
    script.write_text("import sys\nprint(sorted(m for m in ('typer', 'babysitter.cli', 'babysitter.cli.train') if m in sys.modules))\n")
    p = subprocess.run([sys.executable, "-m", "babysitter.babysit", "watch", "--quiet", "--out", str(tmp_path / "run"),
                        str(script)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "[]"
