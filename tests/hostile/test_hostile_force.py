"""``--force`` replaces only a folder of ours (git's rule for a work tree it does not own, rm's
rails for . and /): every verb with --force refuses the cwd, a parent of it, home, a file and a
folder with other things in it, in one line, before any work, and leaves them as they were."""

import json

import pytest

from tests.conftest import run_main
from tests.hostile.promise import refused


def force_verbs(spec, out):
    """Every verb that takes --force, aimed at ``out``."""
    return {"train": ["train", spec, "--out", out, "--force"],
            "run": ["run", spec, "--out", out, "--force"],
            "transfer": ["transfer", spec, "--pretrain", "supervised", "--out", out, "--force"],
            "lab": ["lab", "init-stats", "--out", out, "--force"]}


def snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else None) for p in folder.rglob("*"))


@pytest.mark.parametrize("target", ["cwd", "parent of cwd", "home", "a file", "a folder of mine"])
@pytest.mark.parametrize("verb", ["train", "run", "transfer", "lab"])
def test_force_refuses_what_is_not_ours(verb, target, tiny_spec, tmp_path, monkeypatch, capsys):
    home, work = tmp_path / "home", tmp_path / "home" / "work"
    work.mkdir(parents=True)
    (work / "thesis.tex").write_text("three years of work")
    (home / ".bashrc").write_text("export PATH")
    (work / "notes.txt").write_text("a file")
    (work / "mine").mkdir()
    (work / "mine" / "photo.jpg").write_bytes(b"\xff\xd8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    out = {"cwd": ".", "parent of cwd": "..", "home": str(home), "a file": "notes.txt", "a folder of mine": "mine"}[target]
    before = snapshot(home)
    code, stdout, err = run_main(monkeypatch, capsys, *force_verbs(tiny_spec, out)[verb])
    refused(code, stdout, err)
    assert "--force will not replace" in err
    assert snapshot(home) == before


def test_force_replaces_a_run_dir_of_ours_and_an_old_unmarked_one(tiny_spec, tmp_path, monkeypatch, capsys):
    from babysitter.files import MARKER

    out = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "train", tiny_spec, "--out", out, "--quiet")
    assert code in (0, None), err
    assert json.loads((out / MARKER).read_text()) == {"babysitter": "run"}
    (out / "final.json").write_text('{"old": true}')
    code, _, err = run_main(monkeypatch, capsys, "train", tiny_spec, "--out", out, "--force", "--quiet")
    assert code in (0, None), err
    assert "old" not in json.loads((out / "final.json").read_text())
    # a run dir written before the marker existed: spec.yaml + metrics.jsonl make it ours
    (out / MARKER).unlink()
    (out / "final.json").write_text('{"old": true}')
    code, _, err = run_main(monkeypatch, capsys, "train", tiny_spec, "--out", out, "--force", "--quiet")
    assert code in (0, None), err
    assert "old" not in json.loads((out / "final.json").read_text()) and (out / MARKER).is_file()


def test_without_force_an_existing_file_is_named_as_a_file(tiny_spec, tmp_path, monkeypatch, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    code, out, err = run_main(monkeypatch, capsys, "train", tiny_spec, "--out", notes)
    refused(code, out, err)
    assert "is a file" in err and notes.read_text() == "mine"


def test_check_replaceable_rules(tmp_path, monkeypatch):
    """The shared check itself: what it lets through and what it refuses."""
    from babysitter.errors import BadInput
    from babysitter.files import MARKER, check_replaceable

    monkeypatch.chdir(tmp_path)
    check_replaceable(tmp_path / "absent")            # nothing there: nothing to lose
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty")
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / MARKER).write_text("{}")
    (tmp_path / "ours" / "anything").write_text("x")
    check_replaceable(tmp_path / "ours")
    (tmp_path / "link").symlink_to(tmp_path / "ours")
    for refused_path in (tmp_path, tmp_path.parent, "/", tmp_path / "link"):
        with pytest.raises(BadInput):
            check_replaceable(refused_path)
