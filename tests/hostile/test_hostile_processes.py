"""Two processes, kills and failed writes, with real processes: one writer per run dir (flock on
.babysitter.lock, gone with its holder), stray temp files of a killed write cleaned on the next
open, --resume --set applied or refused, a full disk (RLIMIT_FSIZE: the kernel refuses the write)
is exit 1 with the last good checkpoint kept, a NaN run's final.json is valid JSON, and Optuna's
log lines stay off stderr under --quiet."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from tests.conftest import BABYSIT, babysit, run_main
from tests.hostile.promise import TINY, refused


def wait_for(predicate, timeout=240.0, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_writer_per_run_dir_and_a_killed_one_is_no_blocker(tmp_path, monkeypatch, capsys, write_spec):
    out = tmp_path / "run"
    spec = write_spec({**TINY, "train": {"epochs": 500}})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([*BABYSIT, "train", str(spec), "--out", str(out), "--quiet"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lock = out / ".babysitter.lock"
        wait_for(lambda: (out / "checkpoints" / "last.pt").is_file() or first.poll() is not None, what="epoch 1")
        assert first.poll() is None, first.stderr.read()
        assert lock.read_text().strip() == str(first.pid)
        for args in (["train", "--resume", out], ["train", spec, "--out", out, "--force"],
                     ["run", spec, "--out", out, "--force"], ["report", out]):
            code, stdout, err = run_main(monkeypatch, capsys, *args, "--quiet")
            refused(code, stdout, err)
            assert f"in use by pid {first.pid}" in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        first.stderr.close()
    # kill -9 mid-run: the lock died with its holder; a temp file of a write cut short is cleaned
    stray = out / "checkpoints" / ".last.pt.abc123.tmp"
    stray.write_bytes(b"half a checkpoint")
    done = len((out / "metrics.jsonl").read_text().splitlines())
    code, _, err = run_main(monkeypatch, capsys, "train", "--resume", out, "--set", f"train.epochs={done + 1}", "--quiet")
    assert code in (0, None), err
    assert not stray.exists()
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, done + 2))  # no epoch twice
    assert yaml.safe_load((out / "spec.yaml").read_text())["train"]["epochs"] == done + 1
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"] == done + 1


def test_resume_set_refuses_what_cannot_change(run_copy, monkeypatch, capsys):
    spec_before = (run_copy / "spec.yaml").read_text()
    for item, says in (("optim.lr=0.5", "a resumed run keeps its spec"), ("train.epochs=0", "train.epochs")):
        code, out, err = run_main(monkeypatch, capsys, "train", "--resume", run_copy, "--set", item, "--quiet")
        refused(code, out, err)
        assert says in err
    assert (run_copy / "spec.yaml").read_text() == spec_before


def test_resume_set_epochs_refused_for_a_schedule_laid_out_over_the_run(tmp_path, monkeypatch, capsys, write_spec):
    spec = write_spec({**TINY, "schedule": {"name": "cosine", "unit": "epoch"}})
    out = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "train", spec, "--out", out, "--quiet")
    assert code in (0, None), err
    code, stdout, err = run_main(monkeypatch, capsys, "train", "--resume", out, "--set", "train.epochs=3", "--quiet")
    refused(code, stdout, err)
    assert "cosine" in err


def _file_size_limit(limit: int):
    """preexec_fn: writes past ``limit`` bytes fail with EFBIG (SIGXFSZ ignored, so write() returns the error)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_failed_write_mid_run_keeps_the_last_good_checkpoint(run_copy):
    last = run_copy / "checkpoints" / "last.pt"
    good = last.read_bytes()
    limit = len(good) // 2  # spec.yaml and metrics.jsonl fit; a checkpoint does not
    p = subprocess.run([*BABYSIT, "train", "--resume", str(run_copy), "--set", "train.epochs=3", "--quiet"],
                       capture_output=True, text=True, preexec_fn=_file_size_limit(limit), timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    refused(p.returncode, p.stdout, p.stderr, expect_code=1)
    assert "could not write" in p.stderr and "last good checkpoint is kept" in p.stderr, p.stderr
    assert last.read_bytes() == good
    assert not list((run_copy / "checkpoints").glob(".*.tmp"))


def test_a_nan_run_writes_valid_json(tmp_path, write_spec):
    spec = write_spec({**TINY, "optim": {"name": "sgd", "lr": 1e30, "momentum": 0.0}})
    p = babysit("train", spec, "--out", tmp_path / "run", "--quiet")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    text = (tmp_path / "run" / "final.json").read_text()

    def no_constants(name):
        raise AssertionError(f"final.json holds {name}, which is not JSON")

    final = json.loads(text, parse_constant=no_constants)
    assert final["failed"] and final["test_loss"] is None


@pytest.mark.parametrize("flag", ["--quiet", "--json"])
def test_optuna_log_lines_stay_off_stderr(flag, tmp_path, write_spec):
    spec = write_spec(TINY)
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {low: 0.01, high: 0.1, log: true}\n")
    p = babysit("search", spec, "--space", space, "--trials", "2", "--storage", tmp_path / "j.log",
                "--out", tmp_path / "plots", flag, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == "", p.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a read-only mode; runs as a normal user")
def test_a_read_only_output_folder(tiny_spec, tmp_path, monkeypatch, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        for out in (ro, ro / "run"):
            code, stdout, err = run_main(monkeypatch, capsys, "train", tiny_spec, "--out", out, "--quiet")
            refused(code, stdout, err)
            assert "Permission denied" in err and str(ro) in err
    finally:
        ro.chmod(0o755)


def test_an_out_folder_that_cannot_be_made(tiny_spec, tmp_path, monkeypatch, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    code, stdout, err = run_main(monkeypatch, capsys, "train", tiny_spec, "--out", notes / "run", "--quiet")
    refused(code, stdout, err)
    assert "cannot create" in err and notes.read_text() == "mine"


def test_a_search_plot_folder_in_use(tiny_spec, tmp_path, monkeypatch, capsys):
    """Another process holding the folder's lock (through the same files.lock_dir): search stops at once."""
    out = tmp_path / "plots"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom babysitter.files import lock_dir, mark\n"
                               f"mark({str(out)!r}, 'search')\nwith lock_dir({str(out)!r}):\n"
                               "    print('held', flush=True)\n    time.sleep(600)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        space = tmp_path / "space.yaml"
        space.write_text("optim.lr: {low: 0.01, high: 0.1, log: true}\n")
        code, stdout, err = run_main(monkeypatch, capsys, "search", tiny_spec, "--space", space, "--trials", "1",
                                     "--storage", tmp_path / "j.log", "--out", out, "--quiet")
        refused(code, stdout, err)
        assert f"in use by pid {holder.pid}" in err
    finally:
        holder.kill()
        holder.wait(timeout=60)
        holder.stdout.close()
