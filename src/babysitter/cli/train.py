"""Verbs of one run: train, run (the whole protocol), check and diagnose."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Optional

import typer

from babysitter.cli.app import JSON, QUIET, SET, app, emit, set_pairs, spec_from, verdict
from babysitter.errors import BadInput, CannotWrite, TrainingFailed
from babysitter.files import dumps

# DistributedDataParallel through torch's launcher (train/distributed.py)
NPROC = typer.Option(1, "--nproc", help="Processes on this machine (DDP through torch's elastic launcher).")
NNODES = typer.Option(1, "--nnodes", help="Machines in the run (each starts its own babysit with --nproc).")
NODE_RANK = typer.Option(0, "--node-rank", help="This machine's rank, 0 .. nnodes-1.")
MASTER = typer.Option(None, "--master", help="HOST:PORT of node 0, where the group meets (--nnodes > 1).")
RUN_TAKEN = ("run dir {out} already exists; use --force to replace it (or continue its training with "
             "babysit train --resume {out})")
OVERSUBSCRIBE = typer.Option(False, "--oversubscribe", help="Allow --nproc above the CPUs this process is granted.")


@app.command()
def train(spec: Optional[Path] = typer.Argument(None, help="Run spec (YAML)."),
          out: Optional[Path] = typer.Option(None, "--out", help="Run dir to create."),
          resume: Optional[Path] = typer.Option(None, "--resume", help="Run dir of a killed run to continue."),
          force: bool = typer.Option(False, "--force", help="Replace an existing run dir."),
          sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET,
          nproc: int = NPROC, nnodes: int = NNODES, node_rank: int = NODE_RANK, master: Optional[str] = MASTER,
          oversubscribe: bool = OVERSUBSCRIBE):
    """Train with the doctor's instruments attached; writes a run dir."""
    from babysitter.doctor.diagnose import monitors
    from babysitter.spec import load_spec
    from babysitter.train import run
    from babysitter.train.distributed import Plan, train_distributed

    if resume is not None and (spec is not None or out is not None or force):
        raise BadInput("--resume DIR continues the run in DIR with its saved spec; give no SPEC, --out or --force with it")
    if (nproc, nnodes, master) != (1, 1, None):
        if resume is None and (spec is None or out is None):
            raise BadInput("usage: babysit train SPEC --out DIR --nproc N   (or: babysit train --resume DIR --nproc N)")
        result = train_distributed(Plan(nproc, nnodes, node_rank, master, oversubscribe), None if resume else spec_from(spec, sets),
                                   out, resume, force=force, progress=not (quiet or as_json),
                                   changes=set_pairs(sets) if resume else None)
        emit({**(result or {"node_rank": node_rank}), "run_dir": str(resume or out)}, as_json, quiet, f"trained: {resume or out}")
        return
    if resume is not None:
        saved = load_spec(resume / "spec.yaml") if (resume / "spec.yaml").is_file() else None
        tools = monitors(saved, resume) if saved is not None else []
        result = run.resume(resume, progress=not (quiet or as_json), callbacks=tools, changes=set_pairs(sets))
        out = resume
    else:
        if spec is None or out is None:
            raise BadInput("usage: babysit train SPEC --out DIR   (or: babysit train --resume DIR)")
        resolved = spec_from(spec, sets)
        result = run.train(resolved, out, force=force, progress=not (quiet or as_json), callbacks=monitors(resolved, out))
    emit({**result, "run_dir": str(out)}, as_json, quiet, f"trained: {out}")


@app.command()
def check(spec: Path = typer.Argument(..., help="Run spec (YAML)."),
          budget: float = typer.Option(30.0, help="Seconds of monitored training after the probes."),
          sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Preflight probes + a short monitored training: what is wrong and what to change."""
    from babysitter.doctor.diagnose import check as run_check

    if not math.isfinite(budget) or budget < 0:
        raise BadInput(f"--budget: expected seconds >= 0, got {budget}")
    result = run_check(spec_from(spec, sets), budget=budget, progress=not (quiet or as_json))
    verdict(result, as_json, quiet, f"check: {spec}")


@app.command()
def diagnose(run_dir: Path = typer.Argument(..., help="Run dir of a finished or killed run."),
             as_json: bool = JSON, quiet: bool = QUIET):
    """The doctor's findings for a run dir."""
    from babysitter.doctor.diagnose import diagnose as run_diagnose

    verdict(run_diagnose(run_dir), as_json, quiet, f"diagnosis: {run_dir}")



def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@app.command("run")
def run_cmd(spec: Optional[Path] = typer.Argument(None, help="Run spec (YAML); the built-in default recipe if omitted."),
            out: Optional[Path] = typer.Option(None, "--out", help="Run dir (default: runs/<name>, numbered if taken)."),
            force: bool = typer.Option(False, "--force", help="Replace an existing --out dir."),
            sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET, nproc: int = NPROC,
            oversubscribe: bool = OVERSUBSCRIBE):
    """The whole protocol: check (the probes) -> train (monitored) -> diagnose -> plots -> report.html."""
    from contextlib import nullcontext

    from babysitter.files import lock_dir
    from babysitter.train.distributed import Plan
    from babysitter.train.history import check_run_dir, fresh_run_dir

    resolved = spec_from(spec, sets)
    out = out if out is not None else fresh_run_dir("runs", resolved.name)
    check_run_dir(out, force, RUN_TAKEN)  # the one-line error, before any work
    plan = Plan(nproc, oversubscribe=oversubscribe)
    plan.check_args()
    if nproc > 1 and (resolved.device == "cpu" or not torch_cuda()):
        plan.check_cpus()  # before the probes: nothing runs for a group that cannot start
    # one writer from the training through report.html (with --nproc N, rank 0 holds the lock while
    # the group trains: it creates the run dir)
    with lock_dir(out) if nproc == 1 else nullcontext():
        _protocol(resolved, out, force, as_json, quiet, nproc, oversubscribe)


def _protocol(resolved, out: Path, force: bool, as_json: bool, quiet: bool, nproc: int = 1,
              oversubscribe: bool = False) -> None:
    """check -> train -> diagnose -> plots -> report.html in ``out`` (locked by the caller)."""
    from babysitter.doctor.diagnose import check as run_check
    from babysitter.doctor.diagnose import diagnose as run_diagnose
    from babysitter.doctor.diagnose import monitors
    from babysitter.files import read_json
    from babysitter.report.html import write_report
    from babysitter.report.plots import plot_curves, plot_instruments
    from babysitter.train import run
    from babysitter.train.distributed import Plan, train_distributed
    from babysitter.train.history import write_json

    progress = not (quiet or as_json)
    # the probes: once, here, before one process or the group trains
    checked = run_check(resolved, budget=0, progress=progress) if resolved.doctor.enabled else None
    failed = None
    try:
        if nproc == 1:
            result = run.train(resolved, out, force=force, progress=progress, callbacks=monitors(resolved, out))
        else:
            result = train_distributed(Plan(nproc, oversubscribe=oversubscribe), resolved, out, force=force,
                                       progress=progress)
    except CannotWrite:
        raise
    except TrainingFailed as e:
        if not (out / "final.json").is_file():  # a rank died: nothing to diagnose from
            raise
        failed, result = e, read_json(out / "final.json", "final")
    if checked is not None:
        write_json(out / "check.json", checked)
    diagnosis = run_diagnose(out)
    write_json(out / "diagnosis.json", diagnosis)
    plot_curves(out)
    plot_instruments(out)
    page = str(write_report(out))
    if as_json:
        sys.stdout.write(dumps({**result, "run_dir": str(out), "report": page, "diagnosis": diagnosis}) + "\n")
    elif not quiet:
        emit({**result, "run_dir": str(out), "report": page}, False, False, f"run: {out}")
        verdict(diagnosis, False, False, "diagnosis")
    if failed is not None:
        raise failed

