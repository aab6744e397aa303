"""``babysit watch [--out DIR] [--json] [--quiet] [--probes/--no-probes] [--budget S] SCRIPT [ARGS...]``:
a user's unmodified PyTorch script, run as ``python SCRIPT ARGS`` would, with the doctor attached.

Before the script starts, every input of watch's own is checked (exit 2, the script never runs)
and the run dir is made absolute, created, marked and locked (a second watch on it stops with
"in use by pid N"). The exit status is then the script's own, as ``python`` gives it."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from babysitter.cli.app import JSON, QUIET, app, verdict


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "allow_interspersed_args": False})
def watch(ctx: typer.Context,
          script: Path = typer.Argument(..., help="The training script; what follows it is its own argv."),
          out: Optional[Path] = typer.Option(None, "--out", help="Run dir (default runs/watch-<script>-<time>-<pid>)."),
          probes: bool = typer.Option(True, "--probes/--no-probes", help="Preflight probes at the first steps, on copies."),
          budget: float = typer.Option(30.0, "--budget", help="Seconds the probes may take."),
          every: int = typer.Option(25, "--every", help="The instruments read every N-th step."),
          render: str = typer.Option("background", "--render",
                                     help="Plots and report.html: background (after the verdict), now, or none."),
          tensorboard: bool = typer.Option(False, "--tensorboard", help="Also TensorBoard event files in <run dir>/tb."),
          as_json: bool = JSON, quiet: bool = QUIET):
    """Run SCRIPT under the doctor: findings of the code (zero_grad, softmax, eval mode, ...) and of the run."""
    from babysitter.doctor.watch import runner
    from babysitter.doctor.watch import Watch
    from babysitter.errors import BadInput

    if budget < 0:
        raise BadInput(f"--budget must be >= 0 seconds, got {budget}")
    if render not in ("now", "background", "none"):
        raise BadInput(f"--render must be now, background or none, got {render!r}")
    if every < 1:
        raise BadInput(f"--every must be >= 1, got {every}")
    code = runner.load(script)
    out = take_run_dir(out, script)  # absolute and locked before the script runs (it may chdir)
    # --json: stdout holds the JSON alone, so the script's own stdout goes to stderr
    redirect = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    doctor = Watch(out=out, probes=probes, budget=budget, every=every, script=str(script), quiet=quiet,
                   render=render, tensorboard=tensorboard)
    with redirect:
        with doctor:
            status, _ = runner.run(script, list(ctx.args), code)
    report = doctor.report
    verdict(report, as_json, quiet, f"doctor: {script} ({report['steps']} steps) -> {report['run_dir']}", stderr=True)
    raise typer.Exit(status)  # the script's own status, as python gives it


WATCH_TAKEN = "run dir {out} already exists; watch never replaces one: give --out a new folder"


def take_run_dir(out: Path | None, script: Path) -> Path:
    """The run dir, absolute, created, marked ours and locked by this process (until it ends):
    ``out``, or ``runs/watch-<script>-<time>-<pid>`` (two watches started in one second differ by
    pid; ``-2``, ``-3``... if even that is taken). BadInput if ``out`` holds anything or another
    process holds its lock ("in use by pid N")."""
    from babysitter.train.history import prepare_run_dir

    if out is None:
        base = Path("runs") / f"watch-{script.stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        out, n = base, 1
        while out.exists():
            n += 1
            out = base.with_name(f"{base.name}-{n}")
    out = Path(os.path.abspath(out))
    return prepare_run_dir(out, message=WATCH_TAKEN)
