"""What every lab shares: its output folder, its progress bar and its summary file."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from babysitter.train.history import fresh_run_dir, prepare_run_dir, write_json


def lab_dir(out: str | Path | None, name: str, force: bool = False) -> Path:
    """``out`` (refused if it holds files, unless ``force``) or ``runs/lab/<name>`` numbered if taken."""
    return prepare_run_dir(out if out is not None else fresh_run_dir("runs/lab", name), force=force)


@contextmanager
def steps(total: int, description: str, enabled: bool = True):
    """A progress bar on stderr over ``total`` units of work; yields ``advance(label="")``."""
    if not enabled:
        yield lambda label="": None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[label]}"), console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total, label="")
        yield lambda label="": bar.update(task, advance=1, label=label)


def save_summary(out: Path, summary: dict) -> dict:
    """Write ``out/summary.json`` and return the summary (what ``--json`` prints)."""
    write_json(out / "summary.json", summary)
    return summary
