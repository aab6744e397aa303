"""kill -9 mid-run, then --resume: the final weights equal an uninterrupted run's, bit for bit.

Bit for bit holds at a fixed thread count: ``train.threads: 1`` in the first test, and the default
(null: the CPUs granted, recorded in spec.yaml) with another CPU-bound process beside the runs in
:func:`test_the_default_spec_is_bitwise_reproducible_under_load`. The float sums inside torch's ops
are split across threads, so ``threads: auto`` (a timed choice that varies with the machine's load)
agrees only to float rounding (tests/train/test_threads.py)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

import torch

from tests.conftest import BABYSIT, babysit

SPEC = {"name": "resume", "seed": 3, "data": {"source": "digits", "augment": ["jitter:0.1"]},
        "model": {"kind": "mlp", "hidden": [64], "dropout": 0.2},
        "optim": {"name": "adam", "lr": 0.002}, "schedule": {"name": "cosine", "unit": "step"},
        "train": {"epochs": 20, "batch_size": 32, "threads": 1}}


def _weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def test_kill_9_then_resume_equals_uninterrupted(tmp_path, write_spec):
    spec = write_spec(SPEC)
    full, killed = tmp_path / "full", tmp_path / "killed"
    babysit("train", spec, "--out", full, "--quiet", check=True)

    proc = subprocess.Popen([*BABYSIT, "train", str(spec), "--out", str(killed), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 4):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert 1 <= done < SPEC["train"]["epochs"], "the run must be killed mid-way for this test to mean anything"
    assert not (killed / "final.json").exists()

    babysit("train", "--resume", killed, "--quiet", check=True)
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows_full = [json.loads(x) for x in (full / "metrics.jsonl").read_text().splitlines()]
    rows_killed = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows_killed] == list(range(1, SPEC["train"]["epochs"] + 1))
    assert [r["train_loss"] for r in rows_full] == [r["train_loss"] for r in rows_killed]
    assert json.loads((full / "final.json").read_text())["test_acc"] == json.loads((killed / "final.json").read_text())["test_acc"]


def test_resume_of_a_finished_run_changes_nothing(tmp_path, write_spec):
    spec = write_spec({**SPEC, "train": {"epochs": 2, "batch_size": 64}})
    out = tmp_path / "run"
    babysit("train", spec, "--out", out, "--quiet", check=True)
    before = _weights(out)
    babysit("train", "--resume", out, "--quiet", check=True)
    after = _weights(out)
    assert all(torch.equal(before[k], after[k]) for k in before)


def _kill_9_mid_run(spec, out, env, epochs_before_kill=2):
    proc = subprocess.Popen([*BABYSIT, "train", str(spec), "--out", str(out), "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= epochs_before_kill):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_the_default_spec_is_bitwise_reproducible_under_load(tmp_path, write_spec):
    """No train.threads in the spec, torch's own thread count (no OMP_NUM_THREADS), a busy loop
    beside the runs: uninterrupted twice and killed + resumed give the same weights, bit for bit."""
    spec = write_spec({k: v for k, v in SPEC.items() if k != "train"} | {"train": {"epochs": 6, "batch_size": 32}})
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        first, second, killed = tmp_path / "first", tmp_path / "second", tmp_path / "killed"
        for out in (first, second):
            p = subprocess.run([*BABYSIT, "train", str(spec), "--out", str(out), "--quiet"], env=env,
                               capture_output=True, text=True, timeout=600)
            assert p.returncode == 0, p.stderr
        _kill_9_mid_run(spec, killed, env)
        done = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)["epoch"]
        assert 1 <= done < 6, "the run must be killed mid-way for this test to mean anything"
        p = subprocess.run([*BABYSIT, "train", "--resume", str(killed), "--quiet"], env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
    finally:
        burner.kill()
        burner.wait()
    from babysitter.train.trainer import cpu_threads

    recorded = yaml.safe_load((first / "spec.yaml").read_text())["train"]["threads"]
    assert recorded == json.loads((first / "final.json").read_text())["threads"]   # the count it trained on
    assert 1 <= recorded <= cpu_threads()
    a = _weights(first)
    for other in (second, killed):
        b = _weights(other)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (other.name, k)


def test_ctrl_c_during_a_checkpoint_write_waits_for_it_to_be_whole(tmp_path, monkeypatch):
    """A Ctrl-C that lands inside torch.save (whose zip writer would turn the KeyboardInterrupt into a
    bogus "short write") interrupts right after the checkpoint is written, whole and loadable."""
    from babysitter.train import checkpoint

    real_save = torch.save

    def save_hit_by_ctrl_c(obj, f):
        os.kill(os.getpid(), signal.SIGINT)   # Python's handler runs at once, inside the write
        real_save(obj, f)
    monkeypatch.setattr(checkpoint.torch, "save", save_hit_by_ctrl_c)
    state = {"w": torch.arange(12.0).reshape(3, 4), "epoch": 7}
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_atomic(state, tmp_path / "last.pt")
    got = torch.load(tmp_path / "last.pt", weights_only=True)
    assert got["epoch"] == 7 and torch.equal(got["w"], state["w"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # the handler is back
