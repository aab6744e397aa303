"""What every lab shares: its output folder, its progress bar and its summary file; and, for the
labs that train networks (activations, regularization, batchnorm), one plain training recipe.

Every lab's summary lists the lecture's claims in one format::

    "claims": [{"claim": str, "measured": value, "holds": bool}]
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch

from babysitter import files
from babysitter.errors import BadInput, TrainingFailed
from babysitter.train.history import check_run_dir, fresh_run_dir, prepare_run_dir, write_json
from babysitter.train.run import build
from babysitter.train.trainer import Trainer

LAB_THREADS = 1


def lab_dir(out: str | Path | None, name: str, force: bool = False) -> Path:
    """``out`` (refused if it holds files, unless ``force``) or ``runs/lab/<name>`` numbered if taken."""
    out = Path(out) if out is not None else fresh_run_dir("runs/lab", name)
    taken = "{out} already exists; use --force to replace it or --out to choose another folder"
    check_run_dir(out, force, taken)
    return prepare_run_dir(out, force=force, message=taken)  # locked until save_summary


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
    """Write ``out/summary.json`` (the lab's last file: the lock :func:`lab_dir` took is dropped)
    and return the summary (what ``--json`` prints)."""
    write_json(out / "summary.json", summary)
    files.release(out)
    return summary


def lab_dataset(name: str, datasets: dict, **data) -> dict:
    """The data section for dataset ``name`` of a lab's ``datasets`` table, no augmentation unless
    ``data`` says so (BadInput listing the valid names)."""
    if name not in datasets:
        raise BadInput(f"unknown dataset '{name}'; valid: {', '.join(datasets)}")
    return {**datasets[name], "augment": [], **data}


def base_spec(dataset: dict, seed: int, epochs: int, lr: float, **model) -> dict:
    """The labs' plain recipe: SGD + momentum 0.9 at a constant lr, no weight decay, no label
    smoothing, no doctor — so the one thing a lab varies is the only difference between runs."""
    return {"name": "lab", "seed": seed, "data": dataset, "model": {"norm": "none", **model},
            "optim": {"name": "momentum", "lr": lr, "momentum": 0.9, "weight_decay": 0.0},
            "schedule": {"name": "constant"},
            "train": {"epochs": epochs, "batch_size": 128, "label_smoothing": 0.0},
            "doctor": {"enabled": False}}


def fit(spec, data, callbacks=()) -> tuple[Trainer, bool]:
    """Train ``spec`` on the loaded ``data`` in memory (nothing written); (trainer, diverged).

    On ``LAB_THREADS`` torch threads (restored after): the labs train many small nets, and on a
    shared 2-core box two intra-op threads per step were far slower than one (bench/RESULTS.md)."""
    model, data = build(spec, data=data)
    before = torch.get_num_threads()
    torch.set_num_threads(LAB_THREADS)
    try:
        trainer = Trainer(model, data, spec, callbacks=callbacks, progress=False)
        trainer.fit()
    except TrainingFailed:
        return trainer, True
    finally:
        torch.set_num_threads(before)
    return trainer, False
