"""DDP through torch's launcher, 2 gloo processes on loopback: the split run ends where one process
ends (weights, metrics rows), a killed rank stops the group and --resume completes it, and a
2-node run (two launcher processes) matches too. The references are plain one-process runs.
(--oversubscribe: the groups of 2 start on a machine granting one CPU too.)"""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch

from babysitter.train.group import Group
from babysitter.train.run import train
from tests.conftest import BABYSIT, babysit

# batch 45 over 2 ranks: parts of 23 and 22, and a last batch of 1294 % 45 = 34 examples
MLP = {"name": "ddp-mlp", "seed": 1, "device": "cpu", "data": {"source": "digits"},
       "model": {"kind": "mlp", "hidden": [32], "norm": "none"}, "regularize": {"l2": 1e-3},
       "optim": {"name": "nesterov", "lr": 0.05}, "schedule": {"name": "cosine", "unit": "step"},
       "train": {"epochs": 6, "batch_size": 45}, "doctor": {"every": 5}}
BN = {**MLP, "name": "ddp-bn", "data": {"source": "digits", "augment": ["jitter:0.1"]},
      "model": {"kind": "mlp", "hidden": [32], "norm": "batch"}, "train": {"epochs": 2, "batch_size": 45}}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
ROW_KEYS = ("epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr")


def launch(*args, timeout=600):
    return subprocess.run([*BABYSIT, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout)


def weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(one: Path, many: Path, atol: float) -> None:
    a, b = weights(one), weights(many)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].double(), b[k].double(), rtol=0, atol=atol), (k, (a[k] - b[k]).abs().max())
    ra, rb = rows(one), rows(many)
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        for k in ROW_KEYS:
            assert x[k] == pytest.approx(y[k], abs=1e-5), (k, x, y)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One-process runs of both specs, in this process (1 torch thread)."""
    root = tmp_path_factory.mktemp("one")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for spec in (MLP, BN):
            train(spec, root / spec["name"], progress=False)
    finally:
        torch.set_num_threads(threads)
    return root


def test_part_is_torch_tensor_split():
    for n in (1, 7, 45, 46):
        for world in (1, 2, 3):
            want = torch.tensor_split(torch.arange(n), world)
            assert [torch.arange(n)[Group(r, world).part(n)].tolist() for r in range(world)] == [w.tolist() for w in want]


def test_two_processes_end_where_one_ends(reference, tmp_path, write_spec):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "two"  # TensorBoard on: it only reads, so the run is the reference's
    p = launch("train", write_spec({**MLP, "log": {"tensorboard": True}}), "--out", out, "--nproc", "2", "--oversubscribe", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    result = json.loads(p.stdout)  # stdout holds the JSON alone
    assert_same_run(reference / "ddp-mlp", out, atol=1e-5)
    one = json.loads((reference / "ddp-mlp" / "final.json").read_text())
    assert result["test_acc"] == pytest.approx(one["test_acc"], abs=1e-9)
    assert result["steps"] == one["steps"] == 6 * 29
    assert (out / "doctor.json").is_file() and (out / "spec.yaml").is_file()
    events = EventAccumulator(str(out / "tb"))  # rank 0 wrote tb/, the all-reduced rows
    events.Reload()
    assert [e.value for e in events.Scalars("val/loss")] == pytest.approx([r["val_loss"] for r in rows(out)], rel=1e-6)
    assert any(t.startswith("update_ratio/") for t in events.Tags()["scalars"])


def test_sync_batchnorm_and_augmentation_match_one_process(reference, tmp_path, write_spec):
    out = tmp_path / "two"
    p = launch("train", write_spec(BN), "--out", out, "--nproc", "2", "--oversubscribe", "--quiet")
    assert p.returncode == 0, p.stderr[-2000:]
    assert_same_run(reference / "ddp-bn", out, atol=1e-4)


def _rank_pid(parent: int, rank: int, deadline: float) -> int | None:
    """The pid of local rank ``rank`` among ``parent``'s multiprocessing-spawn children (read from
    /proc): the agent starts local ranks in order, so they sort by start time. (RANK is set inside
    the child after it starts, so /proc/PID/environ does not show it.)"""
    while time.time() < deadline:
        workers = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmd = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == parent and b"spawn_main" in cmd:
                workers.append((int(fields[19]), int(stat.parent.name)))  # (starttime, pid)
        if len(workers) > rank:
            return sorted(workers)[rank][1]
        time.sleep(0.1)
    return None


def test_kill_9_of_rank_1_stops_the_group_then_resume(reference, tmp_path, write_spec):
    out = tmp_path / "killed"
    proc = subprocess.Popen([*BABYSIT, "train", str(write_spec(MLP)), "--out", str(out), "--nproc", "2", "--oversubscribe", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.time() + 240
    metrics = out / "metrics.jsonl"
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    rank1 = _rank_pid(proc.pid, 1, deadline)
    assert rank1 is not None
    os.kill(rank1, signal.SIGKILL)
    killed_at = time.time()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert time.time() - killed_at < 20, "the group must stop within seconds"
    assert "rank 1" in err and "SIGKILL" in err and "Traceback" not in err, err
    done = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert 1 <= done < MLP["train"]["epochs"], "the run must be killed mid-way for this test to mean anything"
    assert not (out / "final.json").exists()

    p = launch("train", "--resume", out, "--nproc", "2", "--oversubscribe", "--quiet")
    assert p.returncode == 0, p.stderr[-2000:]
    assert_same_run(reference / "ddp-mlp", out, atol=1e-5)


def test_two_nodes_on_loopback_match_one_process(reference, tmp_path, write_spec):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec, out = write_spec(MLP), tmp_path / "nodes"
    nodes = [subprocess.Popen([*BABYSIT, "train", str(spec), "--out", str(out), "--nproc", "1", "--nnodes", "2",
                               "--node-rank", str(r), "--master", f"127.0.0.1:{port}", "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) for r in (0, 1)]
    for node in nodes:
        _, err = node.communicate(timeout=600)
        assert node.returncode == 0, err[-2000:]
    assert_same_run(reference / "ddp-mlp", out, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (("--nproc", "0"), "--nproc and --nnodes must be at least 1"),
    (("--nproc", "2000"), "2000 processes but only 1294 training examples"),
    (("--nproc", "50"), "cannot split train.batch_size 45"),
    (("--nnodes", "2", "--nproc", "1"), "--nnodes > 1 needs --master"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, write_spec, args, message):
    out = tmp_path / "never"
    p = babysit("train", write_spec(MLP), "--out", out, *args)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not out.exists()


def test_a_master_port_in_use_is_bad_input(tmp_path, write_spec):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = babysit("train", write_spec(MLP), "--out", tmp_path / "never", "--nproc", "2", "--master", f"127.0.0.1:{port}")
    assert p.returncode == 2 and f"port {port} is already in use" in p.stderr, p.stderr
    assert not (tmp_path / "never").exists()


def test_run_nproc_2_probes_once_then_the_group_trains(reference, tmp_path, write_spec):
    out = tmp_path / "run"
    p = launch("run", write_spec(MLP), "--out", out, "--nproc", "2", "--oversubscribe", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    result = json.loads(p.stdout)
    assert set(result["diagnosis"]) >= {"healthy", "findings", "probes"}
    assert json.loads((out / "check.json").read_text())["probes"]["init_loss"] > 0  # the probes ran, once, first
    assert (out / "report.html").is_file() and (out / "diagnosis.json").is_file()
    assert_same_run(reference / "ddp-mlp", out, atol=1e-5)


def test_the_failure_line_names_the_rank_killed_not_the_one_that_aborted_after_it(tmp_path):
    """torch stamps a failure without an error file in whole seconds: a rank SIGKILLed and its peer that
    gloo then aborted fall in the same second; the line names the killed one, whatever the rank order."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    from babysitter.train.launch import failure_line

    missing = str(tmp_path / "no-error-file.json")
    aborted = ProcessFailure(local_rank=0, pid=100, exitcode=-signal.SIGABRT, error_file=missing)
    killed = ProcessFailure(local_rank=1, pid=101, exitcode=-signal.SIGKILL, error_file=missing)
    aborted.timestamp = killed.timestamp = 1_700_000_000
    line = failure_line(ChildFailedError("worker", {0: aborted, 1: killed}))
    assert line.startswith("rank 1 (pid 101) stopped: killed by SIGKILL"), line
    killed.timestamp += 1   # a second later: the abort came first, and is named
    assert failure_line(ChildFailedError("worker", {0: aborted, 1: killed})).startswith("rank 0 (pid 100)")
