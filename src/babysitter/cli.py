"""The ``babysit`` command line.

Exit status: 0 done, 1 the run itself failed (e.g. the loss diverged), 2 bad input (one line on
stderr, nothing overwritten). ``--json`` prints only the machine-readable result on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
import yaml

from babysitter.errors import BadInput, TrainingFailed

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Train neural networks the CS231n way, with a doctor watching.")

JSON = typer.Option(False, "--json", help="Print the machine-readable result on stdout, nothing else.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar or summary.")
SET = typer.Option([], "--set", help="Override a spec key, e.g. --set optim.lr=0.01 (repeatable).")

lab = typer.Typer(no_args_is_help=True, help="The lectures' experiments, reproduced: PNGs and a --json summary.")
app.add_typer(lab, name="lab")


def _spec(path: Optional[Path], sets: list[str]):
    from babysitter.spec import load_spec, override

    spec = load_spec(path)
    pairs = {}
    for item in sets:
        if "=" not in item:
            raise BadInput(f"--set expects key=value (e.g. optim.lr=0.01), got '{item}'")
        key, value = item.split("=", 1)
        pairs[key] = yaml.safe_load(value)
    return override(spec, **pairs) if pairs else spec


def _console(result, as_json: bool, quiet: bool, **options):
    """Where a verb's result goes: ``--json`` prints ``result`` alone on stdout (None returned),
    ``--quiet`` prints nothing (None); else a rich Console (``options``) for the human view."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return None
    if quiet:
        return None
    from rich.console import Console

    return Console(**options)


def _emit(result: dict, as_json: bool, quiet: bool, title: str) -> None:
    if (console := _console(result, as_json, quiet)) is None:
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_header=False)
    for k, v in result.items():
        table.add_row(k, Text(f"{v:.4g}" if isinstance(v, float) else str(v)))
    console.print(table)


@app.command()
def train(spec: Optional[Path] = typer.Argument(None, help="Run spec (YAML)."),
          out: Optional[Path] = typer.Option(None, "--out", help="Run dir to create."),
          resume: Optional[Path] = typer.Option(None, "--resume", help="Run dir of a killed run to continue."),
          force: bool = typer.Option(False, "--force", help="Replace an existing run dir."),
          sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Train with the doctor's instruments attached; writes a run dir."""
    from babysitter.doctor.diagnose import monitors
    from babysitter.spec import load_spec
    from babysitter.train import run

    if resume is not None:
        if spec is not None or out is not None:
            raise BadInput("--resume DIR continues the run in DIR with its saved spec; give no SPEC or --out with it")
        saved = load_spec(resume / "spec.yaml") if (resume / "spec.yaml").is_file() else None
        tools = monitors(saved, resume) if saved is not None else []
        result = run.resume(resume, progress=not (quiet or as_json), callbacks=tools)
        out = resume
    else:
        if spec is None or out is None:
            raise BadInput("usage: babysit train SPEC --out DIR   (or: babysit train --resume DIR)")
        resolved = _spec(spec, sets)
        result = run.train(resolved, out, force=force, progress=not (quiet or as_json), callbacks=monitors(resolved, out))
    _emit({**result, "run_dir": str(out)}, as_json, quiet, f"trained: {out}")


@app.command()
def check(spec: Path = typer.Argument(..., help="Run spec (YAML)."),
          budget: float = typer.Option(30.0, help="Seconds of monitored training after the probes."),
          sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Preflight probes + a short monitored training: what is wrong and what to change."""
    from babysitter.doctor.diagnose import check as run_check

    result = run_check(_spec(spec, sets), budget=budget, progress=not (quiet or as_json))
    _verdict(result, as_json, quiet, f"check: {spec}")


@app.command()
def diagnose(run_dir: Path = typer.Argument(..., help="Run dir of a finished or killed run."),
             as_json: bool = JSON, quiet: bool = QUIET):
    """The doctor's findings for a run dir."""
    from babysitter.doctor.diagnose import diagnose as run_diagnose

    _verdict(run_diagnose(run_dir), as_json, quiet, f"diagnosis: {run_dir}")


@app.command()
def clinic(folder: Path = typer.Option(Path("clinic"), "--dir", help="Clinic folder (faulty/ and healthy/ specs)."),
           budget: float = typer.Option(15.0, help="Seconds of monitored training per spec."),
           as_json: bool = JSON, quiet: bool = QUIET):
    """Score the doctor on the clinic's faulty and healthy specs."""
    from rich.console import Console

    from babysitter.doctor.clinic import run_clinic

    progress = Console(stderr=True, quiet=quiet or as_json)
    show = lambda r: progress.print(f"{'ok  ' if r['ok'] else 'MISS'} {r['spec']:55s} {r['expect']:24s} "  # noqa: E731
                                   f"top: {', '.join(r['top']) or '-'}  ({r['seconds']} s)", markup=False)
    result = run_clinic(folder, budget=budget, on_result=show)
    if (console := _console(result, as_json, quiet)) is not None:
        console.print(f"faults named in the top two: {result['faults_named']}/{result['faults']} "
                      f"({result['named_fraction']:.0%}); false alarms: {result['false_alarms']}/{result['healthy']}; "
                      f"{result['seconds']} s", markup=False)


def _verdict(report: dict, as_json: bool, quiet: bool, title: str) -> None:
    if (console := _console(report, as_json, quiet, highlight=False)) is None:
        return
    console.print(f"[bold]{title}[/bold]")
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    for n, f in enumerate(report["findings"], 1):
        where = f" (layer {f['layer']})" if f["layer"] else ""
        console.print(f"{n}. [{colour[f['severity']]}]{f['severity']}[/] [bold]{f['id']}[/bold]{where}")
        console.print(f"   evidence: {f['evidence']}", markup=False)
        console.print(f"   advice:   {f['advice']}", markup=False)
    console.print("[green]healthy[/green]" if report["healthy"] else "[red]NOT healthy[/red]: fix the first finding first")


@app.command("run")
def run_cmd(spec: Optional[Path] = typer.Argument(None, help="Run spec (YAML); the built-in default recipe if omitted."),
            out: Optional[Path] = typer.Option(None, "--out", help="Run dir (default: runs/<name>, numbered if taken)."),
            force: bool = typer.Option(False, "--force", help="Replace an existing --out dir."),
            sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """The whole protocol: check (the probes) -> train (monitored) -> diagnose -> plots -> report.html."""
    from babysitter.doctor.diagnose import check as run_check
    from babysitter.doctor.diagnose import diagnose as run_diagnose
    from babysitter.doctor.diagnose import monitors
    from babysitter.report.html import write_report
    from babysitter.report.plots import plot_curves, plot_instruments
    from babysitter.train import run
    from babysitter.train.history import check_run_dir, fresh_run_dir, write_json

    resolved = _spec(spec, sets)
    out = out if out is not None else fresh_run_dir("runs", resolved.name)
    check_run_dir(out, force)  # the one-line error, before any work
    progress = not (quiet or as_json)
    checked = run_check(resolved, budget=0, progress=progress) if resolved.doctor.enabled else None
    failed = None
    try:
        result = run.train(resolved, out, force=force, progress=progress, callbacks=monitors(resolved, out))
    except TrainingFailed as e:
        failed, result = e, json.loads((out / "final.json").read_text())
    if checked is not None:
        write_json(out / "check.json", checked)
    diagnosis = run_diagnose(out)
    write_json(out / "diagnosis.json", diagnosis)
    plot_curves(out)
    plot_instruments(out)
    page = str(write_report(out))
    if as_json:
        sys.stdout.write(json.dumps({**result, "run_dir": str(out), "report": page, "diagnosis": diagnosis}) + "\n")
    elif not quiet:
        _emit({**result, "run_dir": str(out), "report": page}, False, False, f"run: {out}")
        _verdict(diagnosis, False, False, "diagnosis")
    if failed is not None:
        raise failed


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

    result = run_search(_spec(spec, sets), space, trials=trials, epochs=epochs, workers=workers, storage=storage,
                        study=study, sampler=sampler, pruner=pruner, refine=refine, out=out, seed=seed,
                        stale_after=stale_after)
    if (console := _console(result, as_json, quiet)) is not None:
        console.print(results_table(result))
        for w in result["warnings"]:
            console.print(f"[yellow]warning[/yellow] {w}", highlight=False)
        console.print(f"plots: {', '.join(result['plots'])}", markup=False, highlight=False)


@app.command()
def gradcheck(spec: Path = typer.Argument(..., help="Run spec (YAML)."),
              samples: int = typer.Option(20, help="Parameter entries to check (at least one per first/last-layer tensor)."),
              examples: int = typer.Option(8, help="Training examples in the checked batch."),
              sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Autograd vs centred differences in float64 on sampled parameters (exit 1 if 'probably wrong')."""
    import torch.nn.functional as F

    from babysitter.gradcheck import gradient_check
    from babysitter.train.run import build

    resolved = _spec(spec, sets)
    model, data = build(resolved)
    result = gradient_check(model, data.x_train[:examples], data.y_train[:examples],
                            lambda logits, y: F.cross_entropy(logits, y), samples=samples, seed=resolved.seed)
    _emit(result, as_json, quiet, "gradient check")
    if result["reading"] == "probably wrong":
        raise TrainingFailed(f"gradient check failed: max relative error {result['max_rel_error']:.2e}")


@app.command("list")
def list_cmd(as_json: bool = JSON):
    """Every technique by its spec key."""
    from babysitter.catalog import catalog

    entries = catalog()
    if (console := _console({"techniques": entries}, as_json, False)) is None:
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
    if _console(result, as_json, quiet) is not None:
        print(result["report"])


@app.command("transfer")
def transfer_cmd(spec: Path = typer.Argument(..., help="Target run spec (YAML); with --pretrain, the source spec."),
                 source: Optional[Path] = typer.Option(None, "--from", help="Source run dir (best.pt/last.pt + spec.yaml) or checkpoint .pt."),
                 strategy: Optional[str] = typer.Option(None, "--strategy", help="linear_probe | finetune_top | finetune_all | auto (default: transfer.strategy)."),
                 pretrain: Optional[str] = typer.Option(None, "--pretrain", help="Pretrain SPEC as a source instead: supervised | autoencoder | shift."),
                 out: Optional[Path] = typer.Option(None, "--out", help="Run dir (default: runs/<name>-transfer or -<pretrain kind>, numbered)."),
                 force: bool = typer.Option(False, "--force", help="Replace an existing --out dir."),
                 sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Transfer learning: fine-tune from a pretrained run dir or checkpoint (strategy or the lecture's 2x2 table), or --pretrain a source."""
    from babysitter.train.history import fresh_run_dir
    from babysitter.transfer import PRETRAIN, STRATEGIES, pretrain as run_pretrain, transfer

    if (source is None) == (pretrain is None):
        raise BadInput("usage: babysit transfer SPEC --from RUN_DIR|CHECKPOINT [--strategy S]   "
                       "or: babysit transfer SOURCE_SPEC --pretrain supervised|autoencoder|shift [--out DIR]")
    if strategy is not None and strategy not in (*STRATEGIES, "auto"):
        raise BadInput(f"--strategy: unknown strategy '{strategy}'; valid: {', '.join((*STRATEGIES, 'auto'))}")
    if pretrain is not None and pretrain not in PRETRAIN:
        raise BadInput(f"--pretrain: unknown kind '{pretrain}'; valid: {', '.join(PRETRAIN)}")
    resolved = _spec(spec, sets)
    out = out if out is not None else fresh_run_dir("runs", f"{resolved.name}-{pretrain or 'transfer'}")
    progress = not (quiet or as_json)
    if pretrain is not None:
        result = run_pretrain(resolved, out, pretrain, force=force, progress=progress)
    else:
        result = transfer(resolved, source, out, strategy=strategy, force=force, progress=progress)
    if (out / "metrics.jsonl").is_file():
        from babysitter.report.plots import plot_curves

        plot_curves(out)
    decision = result.get("transfer")
    if as_json or decision is None:
        _emit({**result, "run_dir": str(out)}, as_json, quiet, f"{pretrain or 'transfer'}: {out}")
    else:
        shown = {k: v for k, v in result.items() if k != "transfer"}
        shown.update({f"transfer.{k}": decision[k] for k in ("strategy", "cell", "frozen", "reason") if k in decision})
        _emit({**shown, "run_dir": str(out)}, False, quiet, f"transfer: {out}")


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
    if (console := _console(summary, as_json, quiet, highlight=False)) is None:
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


def main() -> None:
    try:
        app()
    except BadInput as e:
        print(f"babysit: error: {e}", file=sys.stderr)
        sys.exit(2)
    except TrainingFailed as e:
        print(f"babysit: the run failed: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("babysit: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
