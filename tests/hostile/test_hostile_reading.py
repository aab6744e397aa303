"""Hostile input files: every one is refused in one line naming the file (exit 2), nothing
written, no traceback. Specs, run dirs (metrics.jsonl, doctor.json, spec.yaml, report.html),
checkpoints and the search's storage / output folder."""

import json

import numpy as np
import pytest
import torch

from tests.conftest import run_main
from tests.hostile.promise import refused

NOT_UTF8 = b"data: {source: digits}\nname: caf\xe9\xff\n"


def spec_verbs(spec, tmp_path):
    """Every verb that reads a spec, with the least arguments it needs."""
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {low: 0.001, high: 0.1, log: true}\n")
    return {
        "train": ["train", spec, "--out", tmp_path / "o"],
        "run": ["run", spec, "--out", tmp_path / "o"],
        "check": ["check", spec, "--budget", "0"],
        "gradcheck": ["gradcheck", spec],
        "search": ["search", spec, "--space", space, "--trials", "1", "--storage", tmp_path / "j.log"],
        "transfer": ["transfer", spec, "--pretrain", "supervised", "--out", tmp_path / "o"],
    }


@pytest.mark.parametrize("verb", ["train", "run", "check", "gradcheck", "search", "transfer"])
def test_a_spec_that_is_not_utf8_is_refused_by_every_spec_verb(verb, tmp_path, monkeypatch, capsys):
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes(NOT_UTF8)
    code, out, err = run_main(monkeypatch, capsys, *spec_verbs(spec, tmp_path)[verb])
    refused(code, out, err)
    assert "not UTF-8" in err and "latin1.yaml" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "j.log").exists()


def test_a_directory_given_as_the_spec(tmp_path, monkeypatch, capsys):
    (tmp_path / "specdir").mkdir()
    code, out, err = run_main(monkeypatch, capsys, "train", tmp_path / "specdir", "--out", tmp_path / "o")
    refused(code, out, err)
    assert "is a directory" in err


def test_an_unclosed_set_value(tiny_spec, tmp_path, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "train", tiny_spec, "--out", tmp_path / "o", "--set", "model.hidden=[32")
    refused(code, out, err)
    assert "--set model.hidden" in err and not (tmp_path / "o").exists()


def checkpoint_bytes():
    """Damaged last.pt contents: (name, bytes, what the message says)."""
    rng = np.random.default_rng(0)
    return [("empty", b"", "empty (0 bytes)"),
            ("random bytes", rng.bytes(4096), "corrupted or not a PyTorch checkpoint"),
            ("text", b"model weights go here\n", "not a PyTorch checkpoint")]


@pytest.mark.parametrize("case", [c[0] for c in checkpoint_bytes()])
def test_resume_from_a_damaged_checkpoint(case, run_copy, monkeypatch, capsys):
    _, raw, says = next(c for c in checkpoint_bytes() if c[0] == case)
    (run_copy / "checkpoints" / "last.pt").write_bytes(raw)
    before = (run_copy / "metrics.jsonl").read_text()
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", run_copy, "--quiet")
    refused(code, out, err)
    assert says in err and "last.pt" in err and "arbitrary pickled" not in err
    assert (run_copy / "metrics.jsonl").read_text() == before


def test_a_cut_checkpoint_and_one_of_the_wrong_shape(run_copy, monkeypatch, capsys):
    last = run_copy / "checkpoints" / "last.pt"
    whole = last.read_bytes()
    last.write_bytes(whole[: len(whole) // 2])
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", run_copy, "--quiet")
    refused(code, out, err)
    assert "truncated" in err
    torch.save({"model": {"w": torch.ones(2)}}, last)  # loads (weights only) but is not this run's state
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", run_copy, "--quiet")
    refused(code, out, err)
    assert "does not fit this run" in err


def test_a_directory_where_the_checkpoint_should_be(run_copy, monkeypatch, capsys):
    last = run_copy / "checkpoints" / "last.pt"
    last.unlink()
    last.mkdir()
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", run_copy, "--quiet")
    refused(code, out, err)


def test_transfer_from_a_text_file(tiny_spec, tmp_path, monkeypatch, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not weights\n")
    code, out, err = run_main(monkeypatch, capsys, "transfer", tiny_spec, "--from", notes, "--out", tmp_path / "o")
    refused(code, out, err)
    assert "notes.txt" in err and not (tmp_path / "o").exists()


def damage(run_dir, case):
    """Damage one file of a run dir as a crash, a disk error or a person might."""
    if case == "metrics.jsonl garbage":
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        (run_dir / "metrics.jsonl").write_text("\n".join(["{not json", *lines]) + "\n")
    elif case == "metrics.jsonl not utf-8":
        (run_dir / "metrics.jsonl").write_bytes(b"\xff\xfe\x00garbage\n")
    elif case == "metrics.jsonl wrong types":
        (run_dir / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "train_loss": "low"}) + "\n" + json.dumps({"epoch": 2}) + "\n")
    elif case == "doctor.json cut short":
        text = (run_dir / "doctor.json").read_text()
        (run_dir / "doctor.json").write_text(text[: len(text) // 2])
    elif case == "doctor.json a list":
        (run_dir / "doctor.json").write_text("[1, 2, 3]\n")
    elif case == "doctor.json 0 bytes":
        (run_dir / "doctor.json").write_bytes(b"")
    elif case == "spec.yaml not utf-8":
        (run_dir / "spec.yaml").write_bytes(NOT_UTF8)
    elif case == "spec.yaml broken":
        (run_dir / "spec.yaml").write_text("data: {source: digits\nmodel: [\n")
    elif case == "spec.yaml wrong types":
        (run_dir / "spec.yaml").write_text("data: {source: digits}\ntrain: {epochs: many}\n")
    return case.split()[0]  # the damaged file's name


DAMAGE = ["metrics.jsonl garbage", "metrics.jsonl not utf-8", "metrics.jsonl wrong types", "doctor.json cut short",
          "doctor.json a list", "doctor.json 0 bytes", "spec.yaml not utf-8", "spec.yaml broken", "spec.yaml wrong types"]


@pytest.mark.parametrize("case", DAMAGE)
@pytest.mark.parametrize("verb", ["diagnose", "report"])
def test_a_damaged_run_dir_file(verb, case, run_copy, monkeypatch, capsys):
    name = damage(run_copy, case)
    code, out, err = run_main(monkeypatch, capsys, verb, run_copy, "--json")
    if verb == "report" and name == "spec.yaml" and case != "spec.yaml not utf-8":
        # the page shows the spec's text as it is; the diagnosis section says it could not be made
        assert code in (0, None) and "Traceback" not in err
        return
    refused(code, out, err)
    assert name in err, err
    assert not (run_copy / "report.html").exists()  # no page made from a damaged record


def test_a_metrics_line_cut_by_a_kill_is_dropped_not_refused(run_copy, monkeypatch, capsys):
    rows = [json.loads(line) for line in (run_copy / "metrics.jsonl").read_text().splitlines()]
    with (run_copy / "metrics.jsonl").open("a") as f:
        f.write('{"epoch": 2, "step": 2')  # the kill came mid-line
    code, out, err = run_main(monkeypatch, capsys, "report", run_copy, "--json")
    assert code in (0, None), err
    from babysitter.train.history import History

    assert History.read(run_copy / "metrics.jsonl") == rows


def test_report_html_that_is_a_directory(run_copy, monkeypatch, capsys):
    (run_copy / "report.html").mkdir()
    (run_copy / "report.html" / "mine.txt").write_text("keep")
    code, out, err = run_main(monkeypatch, capsys, "report", run_copy)
    refused(code, out, err)
    assert "report.html is a directory" in err and (run_copy / "report.html" / "mine.txt").read_text() == "keep"


def test_search_storage_and_out_that_cannot_be_used(tiny_spec, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {low: 0.001, high: 0.1, log: true}\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a journal\n")
    base = ["search", tiny_spec, "--space", space, "--trials", "1", "--epochs", "1"]
    cases = {"storage is a directory": (["--storage", tmp_path], "is a directory"),
             "storage is another file": (["--storage", notes], "not an Optuna journal"),
             "out is a file": (["--storage", tmp_path / "j.log", "--out", notes], "is a file"),
             "study leaves its folder": (["--storage", tmp_path / "j.log", "--study", "../../etc"], "--study")}
    for case, (args, says) in cases.items():
        code, out, err = run_main(monkeypatch, capsys, *base, *args)
        refused(code, out, err)
        assert says in err, (case, err)
    assert notes.read_text() == "my notes, not a journal\n" and not (tmp_path / "runs").exists()


def test_a_spec_name_cannot_leave_runs(tmp_path, monkeypatch, capsys, write_spec):
    monkeypatch.chdir(tmp_path)
    spec = write_spec({"name": "../../escaped", "data": {"source": "digits"}})
    code, out, err = run_main(monkeypatch, capsys, "run", spec)
    refused(code, out, err)
    assert "name '../../escaped'" in err and not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("args, says", [
    (["gradcheck", "SPEC", "--examples", "0"], "--examples"),
    (["check", "SPEC", "--budget", "-5"], "--budget"),
    (["check", "SPEC", "--budget", "nan"], "--budget"),
    (["clinic", "--budget", "inf"], "--budget"),
])
def test_numbers_that_mean_nothing(args, says, tiny_spec, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, *[tiny_spec if a == "SPEC" else a for a in args])
    refused(code, out, err)
    assert says in err


def test_a_model_factory_that_raises_is_the_users_to_fix(tmp_path, monkeypatch, capsys, write_spec):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken_factory_mod.py").write_text("def make():\n    raise RuntimeError('my factory broke')\n")
    spec = write_spec({"data": {"source": "digits"}, "model": {"kind": "python", "factory": "broken_factory_mod:make"}})
    code, out, err = run_main(monkeypatch, capsys, "train", spec, "--out", tmp_path / "o")
    refused(code, out, err)
    assert "raised RuntimeError: my factory broke" in err and not (tmp_path / "o").exists()
