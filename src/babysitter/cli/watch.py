"""``babysit watch [--out DIR] [--json] [--quiet] [--probes/--no-probes] [--budget S] SCRIPT [ARGS...]``:
a user's unmodified PyTorch script, run as ``python SCRIPT ARGS`` would, with the doctor attached."""

from __future__ import annotations

import contextlib
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
          out: Optional[Path] = typer.Option(None, "--out", help="Run dir (default runs/watch-<script>-<time>)."),
          probes: bool = typer.Option(True, "--probes/--no-probes", help="Preflight probes at the first steps, on copies."),
          budget: float = typer.Option(30.0, "--budget", help="Seconds the probes may take."),
          every: int = typer.Option(25, "--every", help="The instruments read every N-th step."),
          render: str = typer.Option("background", "--render",
                                     help="Plots and report.html: background (after the verdict), now, or none."),
          tensorboard: bool = typer.Option(False, "--tensorboard", help="Also TensorBoard event files in <run dir>/tb."),
          as_json: bool = JSON, quiet: bool = QUIET):
    """Run SCRIPT under the doctor: findings of the code (zero_grad, softmax, eval mode, ...) and of the run."""
    from babysitter.doctor import runner
    from babysitter.doctor.watch import Watch
    from babysitter.errors import BadInput
    from babysitter.train.history import check_run_dir

    if budget < 0:
        raise BadInput(f"--budget must be >= 0 seconds, got {budget}")
    if render not in ("now", "background", "none"):
        raise BadInput(f"--render must be now, background or none, got {render!r}")
    if every < 1:
        raise BadInput(f"--every must be >= 1, got {every}")
    code = runner.load(script)
    if out is None:
        out = Path("runs") / f"watch-{script.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_run_dir(out)  # an existing run dir is never overwritten: the one-line error, before the script runs
    # --json: stdout holds the JSON alone, so the script's own stdout goes to stderr
    redirect = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    doctor = Watch(out=out, probes=probes, budget=budget, every=every, script=str(script), quiet=quiet,
                   render=render, tensorboard=tensorboard)
    with redirect:
        with doctor:
            status, _ = runner.run(script, list(ctx.args), code)
    report = doctor.report
    verdict(report, as_json, quiet, f"doctor: {script} ({report['steps']} steps) -> {report['run_dir']}", stderr=True)
    raise typer.Exit(0 if status == 0 else (130 if status == 130 else 1))
