"""The doctor's verdict as text: the findings, most likely first, then healthy or not.

One printer for every host that shows a verdict on a terminal: the ``babysit`` verbs, the
Lightning and Hugging Face callbacks (on stderr), and a notebook's plain-text fallback.
"""

from __future__ import annotations

import sys

COLOUR = {"error": "red", "warning": "yellow", "info": "cyan"}


def console_for(result, as_json: bool, quiet: bool, **options):
    """Where a verb's result goes: ``--json`` prints ``result`` alone on stdout (None returned),
    ``--quiet`` prints nothing (None); else a rich Console (``options``) for the human view."""
    if as_json:
        from babysitter.files import dumps

        sys.stdout.write(dumps(result) + "\n")  # NaN/inf as null: stdout holds valid JSON
        return None
    if quiet:
        return None
    from rich.console import Console

    return Console(**options)


def verdict(report: dict, as_json: bool, quiet: bool, title: str, **options) -> None:
    """The findings, most likely first (``options``: the Console's, e.g. ``stderr=True``)."""
    if (console := console_for(report, as_json, quiet, highlight=False, **options)) is None:
        return
    print_verdict(report, title, console)


def print_verdict(report: dict, title: str, console=None, **options) -> None:
    """Print ``report`` (``{"healthy", "findings", ...}``) under ``title`` on ``console`` (a rich
    Console; default a new one made with ``options``, e.g. ``stderr=True``)."""
    if console is None:
        from rich.console import Console

        console = Console(highlight=False, **options)
    console.print(f"[bold]{title}[/bold]")
    for n, f in enumerate(report["findings"], 1):
        where = f" (layer {f['layer']})" if f.get("layer") else ""
        console.print(f"{n}. [{COLOUR[f['severity']]}]{f['severity']}[/] [bold]{f['id']}[/bold]{where}")
        console.print(f"   evidence: {f['evidence']}", markup=False)
        console.print(f"   advice:   {f['advice']}", markup=False)
        if f.get("changes"):   # the advice as spec edits (what babysit treat applies)
            console.print("   changes:  " + "; ".join(f"{k}: {o} -> {v}" for k, (o, v) in f["changes"].items()),
                          markup=False)
    console.print("[green]healthy[/green]" if report["healthy"] else "[red]NOT healthy[/red]: fix the first finding first")
