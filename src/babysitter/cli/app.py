"""The ``babysit`` app and what every verb shares: spec loading with --set, the --json/--quiet
switch, the result table and the findings view, and ``main`` (exit 0 / 1 / 2 / 130).

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


def spec_from(path: Optional[Path], sets: list[str]):
    from babysitter.spec import load_spec, override

    spec = load_spec(path)
    pairs = {}
    for item in sets:
        if "=" not in item:
            raise BadInput(f"--set expects key=value (e.g. optim.lr=0.01), got '{item}'")
        key, value = item.split("=", 1)
        pairs[key] = yaml.safe_load(value)
    return override(spec, **pairs) if pairs else spec


def console_for(result, as_json: bool, quiet: bool, **options):
    """Where a verb's result goes: ``--json`` prints ``result`` alone on stdout (None returned),
    ``--quiet`` prints nothing (None); else a rich Console (``options``) for the human view."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return None
    if quiet:
        return None
    from rich.console import Console

    return Console(**options)


def emit(result: dict, as_json: bool, quiet: bool, title: str) -> None:
    if (console := console_for(result, as_json, quiet)) is None:
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_header=False)
    for k, v in result.items():
        table.add_row(k, Text(f"{v:.4g}" if isinstance(v, float) else str(v)))
    console.print(table)



def verdict(report: dict, as_json: bool, quiet: bool, title: str) -> None:
    if (console := console_for(report, as_json, quiet, highlight=False)) is None:
        return
    console.print(f"[bold]{title}[/bold]")
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    for n, f in enumerate(report["findings"], 1):
        where = f" (layer {f['layer']})" if f["layer"] else ""
        console.print(f"{n}. [{colour[f['severity']]}]{f['severity']}[/] [bold]{f['id']}[/bold]{where}")
        console.print(f"   evidence: {f['evidence']}", markup=False)
        console.print(f"   advice:   {f['advice']}", markup=False)
        if f.get("changes"):   # the advice as spec edits (what babysit treat applies)
            console.print("   changes:  " + "; ".join(f"{k}: {o} -> {v}" for k, (o, v) in f["changes"].items()), markup=False)
    console.print("[green]healthy[/green]" if report["healthy"] else "[red]NOT healthy[/red]: fix the first finding first")



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
