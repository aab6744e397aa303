"""``babysit lab NAME``: the lectures' experiments, reproduced (PNGs and a --json summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from babysitter.cli.app import JSON, QUIET, app, console_for
from babysitter.errors import BadInput

lab = typer.Typer(no_args_is_help=True, help="The lectures' experiments, reproduced: PNGs and a --json summary.")
app.add_typer(lab, name="lab")

LAB_OUT = typer.Option(None, "--out", help="Output folder (default runs/lab/<name>, numbered).")
LAB_FORCE = typer.Option(False, "--force", help="Replace an existing --out folder.")
LAB_SEED = typer.Option(0, "--seed", help="Seed of every run of the lab (data split, weights, noise).")


def _lab_cell(value, float_format: str = ".3g") -> str:
    """One value of a lab's table or claim as text (None: -)."""
    return format(value, float_format) if isinstance(value, float) else "-" if value is None else str(value)


def _lab_table(rows: list[dict], columns: list[str], title: str):
    """A rich Table of ``rows`` (a summary's runs), one column per key: floats to 3 decimals, None as -."""
    from rich.table import Table

    table = Table(*columns, title=title)
    for r in rows:
        table.add_row(*(_lab_cell(r[c], ".3f") for c in columns))
    return table


def _show_lab(summary: dict, table, as_json: bool, quiet: bool, notes: tuple[str, ...] = ()) -> None:
    """--json: the summary alone on stdout. Else the lab's rich ``table``, the ``notes`` lines, every
    claim ({"claim", "measured", "holds"}; then the summary's "observations", if any) as
    "holds: yes/no" with what was measured, the plots and the animation (if any)."""
    if (console := console_for(summary, as_json, quiet, highlight=False)) is None:
        return
    from rich.text import Text

    console.print(table)
    for line in notes:
        console.print(line, markup=False)
    observations = summary.get("observations", [])
    for n, c in enumerate([*summary["claims"], *observations]):
        if n == len(summary["claims"]):
            console.print("observations (not among the lecture's claims):")
        verdict = ("holds: yes", "green") if c["holds"] else ("holds: no ", "red")
        console.print(Text.assemble(verdict, "  ", c["claim"]))
        console.print(f"             measured: {_lab_cell(c['measured'])}", markup=False)
    for path in [*summary["plots"], *([summary["animation"]] if summary.get("animation") else [])]:
        console.print(f"plot: {path}", markup=False)


@lab.command("init-stats")
def lab_init_stats(out: Optional[Path] = LAB_OUT, force: bool = LAB_FORCE, seed: int = LAB_SEED,
                   as_json: bool = JSON, quiet: bool = QUIET):
    """Lecture 6: activation mean/std/histograms through 10 layers for small/normal/xavier/he x tanh/relu."""
    from babysitter.lab import init_stats

    summary = init_stats.run(out, progress=not (quiet or as_json), force=force, seed=seed)
    _show_lab(summary, init_stats.table(summary), as_json, quiet)


@lab.command("optimizers")
def lab_optimizers(out: Optional[Path] = LAB_OUT, force: bool = LAB_FORCE, seed: int = LAB_SEED,
                   problems: Optional[str] = typer.Option(None, "--problems", help="Comma-separated: quadratic,saddle,rosenbrock,noisy (default all)."),
                   optimizers: Optional[str] = typer.Option(None, "--optimizers", help="Comma-separated optimizer names (default: the lecture's nine)."),
                   max_steps: int = typer.Option(2000, "--max-steps", help="Step budget per run."),
                   gif: bool = typer.Option(True, "--gif/--no-gif", help="Also animate the first problem (kept if < 1 MB)."),
                   as_json: bool = JSON, quiet: bool = QUIET):
    """Lecture 7: optimizers on 2-D problems: trajectories over contours and steps to tolerance."""
    from babysitter.lab import optimizers as lab_opt

    summary = lab_opt.run(out, progress=not (quiet or as_json), force=force, problems=problems,
                          optimizers=optimizers, max_steps=max_steps, seed=seed, gif=gif)
    _show_lab(summary, lab_opt.table(summary), as_json, quiet)


def _lab_list(value: Optional[str], convert=str) -> Optional[list]:
    """'a,b,c' -> [a, b, c] converted (None stays None); BadInput on a value that does not convert."""
    if value is None:
        return None
    try:
        return [convert(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise BadInput(f"expected a comma-separated list of {convert.__name__} values, got '{value}'") from None


@lab.command("activations")
def lab_activations(out: Optional[Path] = LAB_OUT, force: bool = LAB_FORCE, seed: int = LAB_SEED,
                    epochs: int = typer.Option(20, "--epochs", min=1, help="Epochs per activation."),
                    dataset: str = typer.Option("mnist1d", "--dataset", help="mnist1d | digits | fashion-mnist"),
                    activations: Optional[str] = typer.Option(None, "--activations", help="Comma-separated (default sigmoid,tanh,relu,leaky_relu,elu,maxout)."),
                    target: float = typer.Option(0.75, "--target", help="Training accuracy to reach (Krizhevsky: 25% error)."),
                    as_json: bool = JSON, quiet: bool = QUIET):
    """Lecture 6: epochs to a target training accuracy per activation (ReLU vs tanh), dead ReLUs vs lr."""
    from babysitter.lab import activations as lab_act

    chosen = _lab_list(activations) or lab_act.DEFAULT_ACTIVATIONS
    summary = lab_act.run(out, progress=not (quiet or as_json), force=force, seed=seed, epochs=epochs,
                          dataset=dataset, activations=chosen, target_acc=target)
    speedup = summary["relu_vs_tanh_speedup"]
    dead = ", ".join(f"lr {d['lr']:g}: {'diverged' if d['dead_fraction'] is None else format(d['dead_fraction'], '.0%')}"
                     for d in summary["dead_relu"])
    notes = (f"relu vs tanh speedup: {'-' if speedup is None else format(speedup, '.2f') + 'x'}", f"dead ReLUs: {dead}")
    table = _lab_table(summary["runs"], ["activation", "init", "epochs_to_target", "test_acc"],
                       f"activations: epochs to {target:.0%} training accuracy")
    _show_lab(summary, table, as_json, quiet, notes)


@lab.command("regularization")
def lab_regularization(out: Optional[Path] = LAB_OUT, force: bool = LAB_FORCE, seed: int = LAB_SEED,
                       epochs: int = typer.Option(60, "--epochs", min=1, help="Epochs per variant."),
                       dataset: str = typer.Option("mnist1d", "--dataset", help="mnist1d | digits | fashion-mnist"),
                       examples: int = typer.Option(500, "--examples", min=1, help="Training examples (the small-data task)."),
                       variants: Optional[str] = typer.Option(None, "--variants", help="Comma-separated (default: none,l2,dropout,dropconnect,augmentation,batch_norm,resnet,stochastic_depth)."),
                       as_json: bool = JSON, quiet: bool = QUIET):
    """Lectures 6-7: train vs val accuracy per regulariser on a small training set (the gap)."""
    from babysitter.lab import regularization as lab_reg

    summary = lab_reg.run(out, progress=not (quiet or as_json), force=force, seed=seed, epochs=epochs,
                          dataset=dataset, train_examples=examples, only=_lab_list(variants))
    table = _lab_table(summary["runs"], ["variant", "baseline", "train_acc", "val_acc", "gap", "test_acc"],
                       f"regularization: {summary['train_examples']} training examples")
    _show_lab(summary, table, as_json, quiet)


@lab.command("batchnorm")
def lab_batchnorm(out: Optional[Path] = LAB_OUT, force: bool = LAB_FORCE, seed: int = LAB_SEED,
                  epochs: int = typer.Option(8, "--epochs", min=1, help="Epochs per run."),
                  dataset: str = typer.Option("mnist1d", "--dataset", help="mnist1d | digits | fashion-mnist"),
                  lrs: Optional[str] = typer.Option(None, "--lrs", help="Comma-separated learning rates (default 0.01,0.03,0.1,0.3,1,3)."),
                  inits: Optional[str] = typer.Option(None, "--inits", help="Comma-separated inits (default small,xavier,he)."),
                  as_json: bool = JSON, quiet: bool = QUIET):
    """Lecture 6: with and without batch norm across learning rates and inits (val accuracy heatmaps)."""
    from babysitter.lab import batchnorm as lab_bn

    grid = {k: v for k, v in (("lrs", _lab_list(lrs, float)), ("inits", _lab_list(inits))) if v}
    summary = lab_bn.run(out, progress=not (quiet or as_json), force=force, seed=seed, epochs=epochs,
                         dataset=dataset, **grid)
    table = _lab_table(summary["runs"], ["norm", "init", "lr", "val_acc", "diverged"],
                       f"batchnorm: final val accuracy after {epochs} epochs")
    _show_lab(summary, table, as_json, quiet)

