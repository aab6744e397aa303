"""Launching N processes: torch's elastic agent (``torch.distributed.launcher.api.elastic_launch``,
the engine behind ``torchrun``) runs :func:`worker` on each rank; the math of the split run is in
:mod:`babysitter.train.group`. The doctor's callbacks come in as an argument (``monitors``): the
engine never imports the doctor.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from babysitter import files
from babysitter.errors import BadInput, TrainingFailed

from babysitter.train.group import Group, sync_batchnorm

@dataclass
class Plan:
    """What to launch: ``nproc`` processes on this machine, node ``node_rank`` of ``nnodes``, meeting
    at ``master`` (HOST:PORT; None on one node: a free loopback port, as ``torchrun --standalone``)."""
    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master: str | None = None
    oversubscribe: bool = False   # allow more CPU processes than the CPUs granted (each gets 1 thread)

    @property
    def world(self) -> int:
        return self.nproc * self.nnodes

    def check_args(self) -> None:
        """BadInput (exit 2) for options that cannot go together, before any work."""
        if self.nproc < 1 or self.nnodes < 1:
            raise BadInput(f"--nproc and --nnodes must be at least 1 (got --nproc {self.nproc} --nnodes {self.nnodes})")
        if not 0 <= self.node_rank < self.nnodes:
            raise BadInput(f"--node-rank must be in 0..{self.nnodes - 1} for --nnodes {self.nnodes} (got {self.node_rank})")
        if self.nnodes > 1 and self.master is None:
            raise BadInput("--nnodes > 1 needs --master HOST:PORT (node 0's address, the same on every node)")
        if self.master is not None:
            split_master(self.master)

    def check_cpus(self) -> None:
        """BadInput unless the ``nproc`` CPU processes fit the CPUs granted to this process (its
        affinity mask and cgroup quota, :func:`~babysitter.train.trainer.cpu_threads`): more would
        share cores and each hold a copy of the data (``--oversubscribe`` allows it)."""
        from babysitter.train.trainer import cpu_threads

        granted = cpu_threads()
        if self.nproc > granted and not self.oversubscribe:
            raise BadInput(f"--nproc {self.nproc} CPU processes but this process is granted {granted} CPU(s) "
                           f"(affinity and cgroup quota): use --nproc {granted} or less, or add --oversubscribe")

    def check(self, spec, n_train: int) -> None:
        """BadInput (exit 2) for a run that cannot be split this way, before anything starts or is written."""
        self.check_args()
        if self.world == 1:
            return
        w, bs = self.world, spec.train.batch_size
        if w > n_train:
            raise BadInput(f"{w} processes but only {n_train} training examples: use at most {n_train}")
        if w > bs:
            raise BadInput(f"{w} processes cannot split train.batch_size {bs}: each needs at least one example "
                           f"of every batch (use --nproc <= {bs} or a larger batch)")
        tail = n_train % bs
        if tail > 1 and tail < w:
            raise BadInput(f"the last batch of each epoch holds {tail} examples, fewer than the {w} processes; "
                           f"change train.batch_size or data.subset")
        gpus = torch.cuda.device_count() if spec.device != "cpu" else 0
        if gpus and self.nproc > gpus:
            raise BadInput(f"--nproc {self.nproc} on CUDA takes one GPU per process, but torch sees {gpus} "
                           f"(use --nproc {gpus}, or device: cpu)")
        if not gpus:
            self.check_cpus()
        if spec.optim.name in ("lbfgs", "newton"):
            raise BadInput(f"optim.name {spec.optim.name} re-evaluates the loss in a closure; it runs in one "
                           f"process only (use --nproc 1)")
        if spec.train.ensemble is not None:
            raise BadInput("train.ensemble runs in one process only (use --nproc 1)")
        if self.master is not None:
            host, port = split_master(self.master)
            if self.node_rank == 0 and port_in_use(port):
                raise BadInput(f"--master {self.master}: port {port} is already in use on this machine")

    def config(self):
        """The LaunchConfig torchrun would build: c10d on localhost:0 (standalone) or static
        rendezvous at ``master`` with this node's rank; no restarts (a dead rank ends the run)."""
        from torch.distributed.launcher.api import LaunchConfig

        if self.master is None:
            backend, endpoint, conf = "c10d", "localhost:0", {}
        else:
            split_master(self.master)
            backend, endpoint, conf = "static", self.master, {"rank": self.node_rank}
        return LaunchConfig(min_nodes=self.nnodes, max_nodes=self.nnodes, nproc_per_node=self.nproc,
                            run_id="babysit", rdzv_backend=backend, rdzv_endpoint=endpoint, rdzv_configs=conf,
                            max_restarts=0, monitor_interval=0.1, start_method="spawn")


def split_master(master: str) -> tuple[str, int]:
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"--master expects HOST:PORT (e.g. 10.0.0.1:29500), got '{master}'")
    return host, int(port)


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return True
    return False


def train_distributed(plan: Plan, spec=None, out: str | Path | None = None, resume: str | Path | None = None,
                      force: bool = False, progress: bool = True, doctor: bool = True,
                      changes: dict | None = None, monitors=None) -> dict | None:
    """``babysit train SPEC --out DIR --nproc N`` (or ``--resume DIR --nproc N``): everything that can be
    wrong is checked here, in one process, before the group starts or the run dir is touched; then
    :func:`launch`. ``doctor``: rank 0 carries the callbacks ``monitors(spec, out) -> [Callback]`` (the
    doctor's instruments, passed in by the caller: train/ never imports the doctor; a module-level
    function, as each rank builds its own). ``changes``: what ``--set``
    changes on ``--resume`` (only ``train.epochs``, as for one process). Returns rank 0's final.json
    content (None on a node that does not hold rank 0)."""
    from babysitter.spec import load_spec
    from babysitter.train.history import check_run_dir
    from babysitter.train.run import build, saved_spec

    plan.check_args()
    if resume is not None:
        out, spec = Path(resume), saved_spec(resume, changes)
    else:
        from babysitter.train.run import fixed_thread_count

        spec = fixed_thread_count(load_spec(spec), plan.nproc)  # each rank's count, recorded in spec.yaml
        if plan.node_rank == 0:
            check_run_dir(out, force)
    _, data = build(spec)  # the data loads and the model fits it
    plan.check(spec, len(data.x_train))
    if resume is not None and changes and plan.node_rank == 0:
        from babysitter.train.history import write_spec

        write_spec(out / "spec.yaml", spec.to_dict())
    job = {"spec": spec.to_dict(), "out": str(out) if out is not None else None, "resume": resume is not None,
           "progress": progress, "doctor": doctor, "monitors": monitors}
    return launch(plan, job)


def launch(plan: Plan, job: dict) -> dict | None:
    """Run :func:`worker` (``job``) in ``plan.nproc`` processes through torch's elastic agent; the
    result of global rank 0 (None on a node without it). A failed rank: TrainingFailed (exit 1)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    if not os.environ.get("BABYSIT_DEBUG"):  # a failure is reported in one line (failure_line); its log is noise
        import torch.distributed.elastic.agent.server.api  # noqa: F401  (its logger, made on import, set below)

        for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed.elastic")] + [
                "torch.distributed.elastic", "torch.multiprocessing"]:
            logging.getLogger(name).setLevel(logging.CRITICAL)  # each has its own level: the parent's is not enough
    try:
        results = elastic_launch(plan.config(), worker)(job)
    except ChildFailedError as e:
        raise TrainingFailed(failure_line(e)) from None
    except SignalException as e:  # the agent stopped the group on SIGTERM / Ctrl-C; rank 0's lock died with it
        raise stopped_by_signal(e.sigval, job) from None
    ours = [r for r in results.values() if r is not None]
    for r in ours:
        if "bad_input" in r:
            raise BadInput(r["bad_input"])
    final = next((r["final"] for r in ours if "final" in r), None)
    failed = next((r["failed"] for r in ours if "failed" in r), None)
    if failed is not None:
        raise TrainingFailed(failed)
    return final


def stopped_by_signal(sigval, job: dict):
    """The one line (and status: 143 SIGTERM, 130 otherwise) for a group stopped by a signal."""
    from babysitter.errors import Interrupted

    how, status = ("terminated", 143) if sigval == signal.SIGTERM else ("interrupted", 130)
    out = Path(job["out"]) if job.get("out") else None
    if out is None:
        return Interrupted(how, status)
    if (out / "checkpoints" / "last.pt").is_file():
        return Interrupted(f"{how}; continue with babysit train --resume {out} (the last good checkpoint is kept)", status)
    return Interrupted(f"{how} before the first checkpoint: nothing to resume in {out}", status)


def failure_line(e) -> str:
    """One line for a dead group: which rank, how (signal or exit code), and its error if any. The first
    to fail; torch stamps a failure without an error file in whole seconds, so in a tie a rank that aborted
    (gloo's answer to a lost peer: "terminate called without an active exception") is the consequence."""
    rank, f = min(e.failures.items(), key=lambda kv: (kv[1].timestamp, kv[1].exitcode == -signal.SIGABRT))
    how = f"killed by {f.signal_name()}" if f.exitcode < 0 else f"exit code {f.exitcode}"
    msg = f.message if isinstance(f.message, str) else (f.message or {}).get("message", "")
    msg = msg.strip().splitlines()[-1][:200] if msg and msg.strip() else ""
    return f"rank {rank} (pid {f.pid}) stopped: {how}{': ' + msg if msg else ''}; the group was stopped"


# ---------------------------------------------------------------- one rank
def worker(job: dict) -> dict | None:
    """One rank: join the group (gloo on CPU, NCCL on CUDA), train, leave. ``job``: {"spec": dict,
    "out": str, "resume": bool, "progress": bool, "doctor": bool}. Returns rank 0's result."""
    from babysitter.train.trainer import cpu_threads, pick_device

    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if "OMP_NUM_THREADS" not in os.environ:  # N processes share this machine's CPUs
        torch.set_num_threads(max(1, cpu_threads() // int(os.environ["LOCAL_WORLD_SIZE"])))
    device = pick_device(job["spec"].get("device", "auto"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        final = train_rank(job, Group(rank, world, device))
        return {"final": final} if rank == 0 else None
    except BadInput as e:
        return {"bad_input": str(e)}
    except TrainingFailed as e:
        return {"failed": str(e)}
    finally:
        dist.destroy_process_group()


def train_rank(job: dict, group: Group) -> dict:
    """This rank's share of the run: build (same seed on every rank), sync BN, train, finish."""
    from babysitter.spec import load_spec
    from babysitter.train.checkpoint import load_checkpoint
    from babysitter.train.run import build, open_run_dir
    from babysitter.train.trainer import Trainer

    spec = load_spec(job["spec"])
    out = Path(job["out"]) if job["out"] else None
    model, data = build(spec)
    if spec.train.sync_bn is not False and group.world > 1:
        model = sync_batchnorm(model.to(group.device))
    if group.writes and out is not None and not job["resume"]:
        open_run_dir(out, spec, data, force=True)  # the parent checked it before launching
    elif group.writes and out is not None:  # resume: rank 0 is the one writer, as open_run_dir makes it
        files.ensure_locked(out)
        files.clean_stray_tmp(out)
    from babysitter.train.tensorboard import tensorboard_log

    monitors = job.get("monitors")   # the doctor's callbacks, passed in by the caller (cli/train.py)
    tools = monitors(spec, out) if group.writes and job["doctor"] and monitors is not None else []
    tools += tensorboard_log(spec, out) if group.writes else []  # rank 0 writes tb/ as it writes the run dir
    trainer = Trainer(model, data, spec, out if group.writes else None, callbacks=tools,
                      progress=job["progress"] and group.writes, group=group)
    if job["resume"]:
        trainer.load_state(load_checkpoint(out / "checkpoints" / "last.pt", map_location=trainer.device))
    return trainer.fit()
