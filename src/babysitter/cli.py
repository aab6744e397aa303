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


def _emit(result: dict, as_json: bool, quiet: bool, title: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    elif not quiet:
        from rich.console import Console
        from rich.table import Table

        from rich.text import Text

        table = Table(title=title, show_header=False)
        for k, v in result.items():
            table.add_row(k, Text(f"{v:.4g}" if isinstance(v, float) else str(v)))
        Console().print(table)


@app.command()
def train(spec: Optional[Path] = typer.Argument(None, help="Run spec (YAML)."),
          out: Optional[Path] = typer.Option(None, "--out", help="Run dir to create."),
          resume: Optional[Path] = typer.Option(None, "--resume", help="Run dir of a killed run to continue."),
          force: bool = typer.Option(False, "--force", help="Replace an existing run dir."),
          sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Train with the instruments attached; writes a run dir."""
    from babysitter.train import run

    if resume is not None:
        if spec is not None or out is not None:
            raise BadInput("--resume DIR continues the run in DIR with its saved spec; give no SPEC or --out with it")
        result = run.resume(resume, progress=not (quiet or as_json))
        out = resume
    else:
        if spec is None or out is None:
            raise BadInput("usage: babysit train SPEC --out DIR   (or: babysit train --resume DIR)")
        result = run.train(_spec(spec, sets), out, force=force, progress=not (quiet or as_json))
    _emit({**result, "run_dir": str(out)}, as_json, quiet, f"trained: {out}")


@app.command("run")
def run_cmd(spec: Optional[Path] = typer.Argument(None, help="Run spec (YAML); the built-in default recipe if omitted."),
            out: Optional[Path] = typer.Option(None, "--out", help="Run dir (default: runs/<name>, numbered if taken)."),
            force: bool = typer.Option(False, "--force", help="Replace an existing --out dir."),
            sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """The whole protocol on a spec: train, then plots of the run (curves.png)."""
    from babysitter.report.plots import plot_curves
    from babysitter.train import run
    from babysitter.train.history import fresh_run_dir

    resolved = _spec(spec, sets)
    out = out if out is not None else fresh_run_dir("runs", resolved.name)
    result = run.train(resolved, out, force=force, progress=not (quiet or as_json))
    plot_curves(out)
    _emit({**result, "run_dir": str(out)}, as_json, quiet, f"run: {out}")


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
    if as_json:
        sys.stdout.write(json.dumps({"techniques": entries}) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("key", "name", "formula", "where")
    for e in entries:
        table.add_row(*(Text(e[k]) for k in ("key", "name", "formula", "where")))
    Console().print(table)


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
