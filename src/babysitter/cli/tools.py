"""Small verbs: clinic, gradcheck, list and report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from babysitter.cli.app import JSON, QUIET, SET, app, console_for, emit, spec_from
from babysitter.errors import BadInput, TrainingFailed

DIR_HELP = ("Clinic folder (faulty/ and healthy/ specs, scripts/ for babysit watch); "
            "default: the public clinic shipped with the package.")
ONLY_HELP = "Only the cases whose file name matches this shell pattern (repeatable), e.g. --only 'lr_too_high--*'."


@app.command()
def clinic(folder: Optional[Path] = typer.Option(None, "--dir", help=DIR_HELP),
           budget: float = typer.Option(15.0, help="Seconds of monitored training per spec."),
           only: list[str] = typer.Option([], "--only", help=ONLY_HELP),
           as_json: bool = JSON, quiet: bool = QUIET):
    """Score the doctor on the clinic's faulty and healthy specs and scripts."""
    import math

    from rich.console import Console

    from babysitter.doctor.clinic import run_clinic

    if not math.isfinite(budget) or budget < 0:
        raise BadInput(f"--budget: expected seconds >= 0, got {budget}")

    progress = Console(stderr=True, quiet=quiet or as_json)
    show = lambda r: progress.print(f"{'ok  ' if r['ok'] else 'MISS'} {r['spec']:55s} {r['expect']:24s} "  # noqa: E731
                                   f"top: {', '.join(r['top']) or '-'}  ({r['seconds']} s)", markup=False)
    result = run_clinic(folder, budget=budget, on_result=show, only=only)
    if (console := console_for(result, as_json, quiet)) is not None:
        console.print(f"faults named in the top two: {result['faults_named']}/{result['faults']} "
                      f"({result['named_fraction']:.0%}); false alarms: {result['false_alarms']}/{result['healthy']}; "
                      f"{result['seconds']} s", markup=False)



@app.command()
def gradcheck(spec: Path = typer.Argument(..., help="Run spec (YAML)."),
              samples: int = typer.Option(20, min=1, help="Parameter entries to check (at least one per first/last-layer tensor)."),
              examples: int = typer.Option(8, min=1, help="Training examples in the checked batch."),
              sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Autograd vs centred differences in float64 on sampled parameters (exit 1 if 'probably wrong')."""
    import torch.nn.functional as F

    from babysitter.gradcheck import gradient_check
    from babysitter.train.run import build

    resolved = spec_from(spec, sets)
    model, data = build(resolved)
    result = gradient_check(model, data.x_train[:examples], data.y_train[:examples],
                            lambda logits, y: F.cross_entropy(logits, y), samples=samples, seed=resolved.seed)
    emit(result, as_json, quiet, "gradient check")
    if result["reading"] == "probably wrong":
        raise TrainingFailed(f"gradient check failed: max relative error {result['max_rel_error']:.2e}")


@app.command("list")
def list_cmd(findings: bool = typer.Option(False, "--findings", help="The doctor's finding ids: what each means, "
                                                                     "where it comes from, its usual remedy."),
             as_json: bool = JSON, quiet: bool = QUIET):
    """Every technique by its spec key (or, with --findings, the doctor's vocabulary)."""
    if findings:
        return list_findings(as_json, quiet)
    from babysitter.catalog import catalog

    entries = catalog()
    if (console := console_for({"techniques": entries}, as_json, quiet)) is None:
        return
    from rich.table import Table
    from rich.text import Text

    table = Table("key", "name", "formula", "where")
    for e in entries:
        table.add_row(*(Text(e[k]) for k in ("key", "name", "formula", "where")))
    console.print(table)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="Run dir (finished or killed)."),
           as_json: bool = JSON, quiet: bool = QUIET):
    """Write RUN_DIR/report.html: one self-contained page (spec, curves, instruments, diagnosis,
    final metrics). An older report.html there is replaced: it is derived output."""
    from babysitter.report.html import build_report

    result = build_report(run_dir)
    if console_for(result, as_json, quiet) is not None:
        print(result["report"])



def list_findings(as_json: bool, quiet: bool) -> None:
    from babysitter.doctor.vocabulary import table

    entries = table()
    if (console := console_for({"findings": entries}, as_json, quiet)) is None:
        return
    from rich.table import Table
    from rich.text import Text

    view = Table("from", "means", "remedy")
    view.add_column("id", no_wrap=True)
    view.columns.insert(0, view.columns.pop())
    for e in entries:
        view.add_row(*(Text(e[k]) for k in ("id", "source", "meaning", "remedy")))
    console.print(view)
