"""``babysit watch [--out DIR] [--json] [--quiet] [--probes/--no-probes] [--budget S] SCRIPT [ARGS...]``:
a user's unmodified PyTorch script, run as ``python SCRIPT ARGS`` would, with the doctor attached.

Before the script starts, every input of watch's own is checked (exit 2, the script never runs)
and the run dir is made absolute, created, marked and locked (a second watch on it stops with
"in use by pid N"). The exit status is then the script's own, as ``python`` gives it.

The verb itself is :func:`babysitter.watching.watch_script`, which the console script reads and
runs without typer; typer gets ``--help`` and the words that parse cannot read (their usage errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from babysitter.watching import WATCH_DEFAULTS as D
from babysitter.watching import watch_script
from babysitter.cli.app import JSON, QUIET, app


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "allow_interspersed_args": False})
def watch(ctx: typer.Context,
          script: Path = typer.Argument(..., help="The training script; what follows it is its own argv."),
          out: Optional[Path] = typer.Option(D["out"], "--out", help="Run dir (default runs/watch-<script>-<time>-<pid>)."),
          probes: bool = typer.Option(D["probes"], "--probes/--no-probes", help="Preflight probes at the first steps, on copies."),
          budget: float = typer.Option(D["budget"], "--budget", help="Seconds the probes may take."),
          every: int = typer.Option(D["every"], "--every", help="The instruments read every N-th step."),
          render: str = typer.Option(D["render"], "--render",
                                     help="Plots and report.html: background (after the verdict), now, or none."),
          tensorboard: bool = typer.Option(D["tensorboard"], "--tensorboard", help="Also TensorBoard event files in <run dir>/tb."),
          as_json: bool = JSON, quiet: bool = QUIET):
    """Run SCRIPT under the doctor: findings of the code (zero_grad, softmax, eval mode, ...) and of the run."""
    raise typer.Exit(watch_script(script, list(ctx.args), out=out, probes=probes, budget=budget, every=every,
                                  render=render, tensorboard=tensorboard, as_json=as_json, quiet=quiet))
