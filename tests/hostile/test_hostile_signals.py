"""What a cluster scheduler and a shell do to a training run: SIGTERM (one process or a group) and
Ctrl-C keep the last good checkpoint, say how to go on in one line, exit 143 / 130 and release the
lock; --nproc above the CPUs granted is refused before any process starts; a short write inside
torch's checkpoint writer is the promised exit 1; progress without a terminal is one plain line per
epoch."""

import fcntl
import os
import re
import signal
import subprocess

import pytest
import torch

from babysitter.train.trainer import cpu_threads
from tests.conftest import BABYSIT, run_main
from tests.hostile.promise import TINY, refused
from tests.hostile.test_hostile_processes import wait_for

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def lock_is_free(out) -> bool:
    fd = os.open(out / ".babysitter.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def stop_mid_run(args, out, sig):
    """Start ``babysit train ARGS``, wait for its first checkpoint, send ``sig``: (returncode, stderr)."""
    p = subprocess.Popen([*BABYSIT, "train", *map(str, args), "--quiet"], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (out / "checkpoints" / "last.pt").is_file() or p.poll() is not None, what="epoch 1")
        assert p.poll() is None, p.stderr.read()
        p.send_signal(sig)
        _, err = p.communicate(timeout=120)
    finally:
        p.kill()
        p.wait()
    return p.returncode, err


@pytest.mark.parametrize("sig, status, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_keeps_the_last_checkpoint_and_names_resume(sig, status, word, tmp_path, write_spec, monkeypatch, capsys):
    out = tmp_path / "run"
    code, err = stop_mid_run([write_spec({**TINY, "train": {"epochs": 500}}), "--out", out], out, sig)
    refused(code, "", err, expect_code=status, lines=1)
    assert err.strip() == f"babysit: {word}; continue with babysit train --resume {out} (the last good checkpoint is kept)"
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)   # whole, loadable
    assert lock_is_free(out)
    done = state["epoch"]
    code, _, err = run_main(monkeypatch, capsys, "train", "--resume", out, "--set", f"train.epochs={done + 1}", "--quiet")
    assert code in (0, None), err
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"] == done + 1


@pytest.mark.skipif(cpu_threads() < 2, reason="a group of 2 needs 2 CPUs granted")
def test_sigterm_on_a_group_keeps_the_checkpoint_and_releases_the_lock(tmp_path, write_spec):
    out = tmp_path / "run"
    spec = write_spec({**TINY, "train": {"epochs": 500, "batch_size": 64}})
    code, err = stop_mid_run([spec, "--out", out, "--nproc", "2"], out, signal.SIGTERM)
    refused(code, "", err, expect_code=143, lines=1)
    assert f"terminated; continue with babysit train --resume {out}" in err
    torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    wait_for(lambda: lock_is_free(out), timeout=60, what="the lock to be released")


def test_nproc_above_the_cpus_granted_is_refused_before_anything_starts(tmp_path, write_spec):
    spec = write_spec(TINY)
    granted = cpu_threads()
    p = subprocess.run([*BABYSIT, "train", str(spec), "--out", str(tmp_path / "a"), "--nproc", str(granted + 1)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    refused(p.returncode, p.stdout, p.stderr)
    assert f"granted {granted} CPU" in p.stderr and "--oversubscribe" in p.stderr
    assert not (tmp_path / "a").exists()
    # an affinity mask of one CPU (taskset -c 0) grants one, whatever the machine has
    p = subprocess.run([*BABYSIT, "run", str(spec), "--out", str(tmp_path / "b"), "--nproc", "2"], capture_output=True,
                       text=True, env=ENV, timeout=300, preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    refused(p.returncode, p.stdout, p.stderr)
    assert "granted 1 CPU" in p.stderr and not (tmp_path / "b").exists()


def test_oversubscribe_lifts_the_cpu_check_only():
    from babysitter.train.distributed import Plan

    Plan(nproc=cpu_threads() + 1, oversubscribe=True).check_cpus()
    with pytest.raises(Exception, match="granted"):
        Plan(nproc=cpu_threads() + 1).check_cpus()


def test_a_short_write_inside_torch_s_checkpoint_writer_is_exit_1(run_copy, monkeypatch, capsys):
    """torch's zip writer reports a write cut short by a file size limit as a RuntimeError
    ("unexpected pos"), not an OSError: the message torch printed in issue #22, raised after
    part of the checkpoint was written."""
    from babysitter.train import checkpoint

    last = run_copy / "checkpoints" / "last.pt"
    good = last.read_bytes()

    def short_write(obj, f):
        f.write(b"PK\x03\x04" + bytes(100))
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 7488 vs 7382")

    monkeypatch.setattr(checkpoint.torch, "save", short_write)
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", run_copy, "--set", "train.epochs=2", "--quiet")
    refused(code, out, err, expect_code=1, lines=1)
    assert "could not write" in err and "last good checkpoint is kept" in err and "internal error" not in err
    assert last.read_bytes() == good and not list(last.parent.glob(".*.tmp"))


def test_without_a_terminal_progress_is_one_plain_line_per_epoch(tmp_path, write_spec):
    spec = write_spec({**TINY, "train": {"epochs": 3}})
    p = subprocess.run([*BABYSIT, "train", str(spec), "--out", str(tmp_path / "a")], capture_output=True, text=True,
                       env=ENV, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if not ln.startswith("babysit: epoch")]  # a slowed-run note may come
    assert [ln.split("  ")[0] for ln in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], p.stderr
    assert all(re.fullmatch(r"epoch \d/3  loss \S+  acc \S+  lr \S+  val \S+  \d+\.\d s", ln) for ln in lines), lines
    assert "\r" not in p.stderr and "━" not in p.stderr
    quiet = subprocess.run([*BABYSIT, "train", str(spec), "--out", str(tmp_path / "b"), "--quiet"], capture_output=True,
                           text=True, env=ENV, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_a_fixed_count_run_slowed_by_other_work_says_so_once(capsys):
    from babysitter.train.progress import SLOWED, Progress

    bar = Progress(enabled=True, plain=False, slow_hint=True)
    seconds = [5.0, 1.0, 1.2, 1.0 * SLOWED * 1.01, 9.0]   # per 10 steps; the first epoch (warm-up) is not compared
    for epoch, s in enumerate(seconds, 1):
        bar.end_epoch({"epoch": epoch, "step": 10 * epoch, "seconds": s})
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "epoch 4's steps took 1.5x" in err and "train.threads: auto" in err
    calm = Progress(enabled=True, plain=False, slow_hint=True)
    for epoch, s in enumerate([5.0, 1.0, 1.0 * SLOWED * 0.99], 1):
        calm.end_epoch({"epoch": epoch, "step": 10 * epoch, "seconds": s})
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("raised, status", [
    ("Interrupted", 143), ("CannotWrite", 1)])
def test_treat_s_stopped_runs_name_treat_s_own_way_on(raised, status, tiny_spec, tmp_path, monkeypatch, capsys):
    """The runs inside treat say `babysit train --resume <treat>/before`; treat itself has no --resume."""
    from babysitter import errors
    from babysitter.doctor import treat

    out = tmp_path / "t"
    hint = f"continue with babysit train --resume {out / 'before'} (the last good checkpoint is kept)"

    def stopped(*args, **kwargs):
        if raised == "Interrupted":
            raise errors.Interrupted(f"terminated; {hint}", 143)
        raise errors.CannotWrite(f"could not write {out}/before/metrics.jsonl: File too large; the last good "
                                 f"checkpoint is kept ({hint})")

    monkeypatch.setattr(treat, "treat", stopped)
    code, stdout, err = run_main(monkeypatch, capsys, "treat", tiny_spec, "--out", out, "--quiet")
    refused(code, stdout, err, expect_code=status, lines=1)
    assert "--resume" not in err and f"run it again with --force --out {out}" in err
