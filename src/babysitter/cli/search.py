"""The search verb: coarse-to-fine random search on Optuna."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from babysitter.cli.app import JSON, QUIET, SET, app, console_for, spec_from

@app.command()
def search(spec: Path = typer.Argument(..., help="Base run spec (YAML); the space's keys override it."),
           space: Optional[Path] = typer.Option(None, "--space", help="Search space (YAML): spec path -> {low, high, log, int} or {choices}."),
           trials: int = typer.Option(20, "--trials", help="Finished trials the study should hold in total."),
           epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs per trial (default: the spec's train.epochs)."),
           workers: int = typer.Option(1, "--workers", help="Local worker processes sharing the study."),
           storage: Optional[str] = typer.Option(None, "--storage", help="Journal file or database URL (default runs/search/journal.log)."),
           study: Optional[str] = typer.Option(None, "--study", help="Study name (default: the spec's name, or REFINE-fine)."),
           sampler: str = typer.Option("random", "--sampler", help="random | grid"),
           pruner: str = typer.Option("none", "--pruner", help="none | median | asha"),
           refine: Optional[str] = typer.Option(None, "--refine", help="Coarse study to narrow the ranges around (fine stage)."),
           out: Optional[Path] = typer.Option(None, "--out", help="Folder for the plots (default runs/search/<study>)."),
           seed: int = typer.Option(0, "--seed", help="Sampler seed (worker i uses seed*1000+i)."),
           stale_after: float = typer.Option(3600.0, "--stale-after", help="Journal: fail RUNNING trials older than this (s) on start."),
           sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Coarse-to-fine random search on Optuna: a table sorted by val accuracy, scatter plots, edge warnings."""
    from babysitter.search.study import results_table
    from babysitter.search.study import search as run_search

    result = run_search(spec_from(spec, sets), space, trials=trials, epochs=epochs, workers=workers, storage=storage,
                        study=study, sampler=sampler, pruner=pruner, refine=refine, out=out, seed=seed,
                        stale_after=stale_after)
    if (console := console_for(result, as_json, quiet)) is not None:
        console.print(results_table(result))
        for w in result["warnings"]:
            console.print(f"[yellow]warning[/yellow] {w}", highlight=False)
        console.print(f"plots: {', '.join(result['plots'])}", markup=False, highlight=False)

