"""A rich progress bar for training: one bar for the whole run, with loss, accuracy and lr.

The loss shown is the running mean of the epoch so far; it is read from the device only every
``every`` steps so the bar does not force a sync on each step, and the bar moves by ``every``
steps at a time (rich takes a lock per update). Disabled (``enabled=False``), the trainer does
not call it per step at all.

In a notebook (an IPython kernel) rich's live bar needs ipywidgets and warns without it: there the
bar is plain text instead, one line per epoch on stderr (``epoch 3/10  loss ... acc ... lr ...``).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, enabled: bool = True, every: int = 20):
        self.enabled, self.every = enabled, every
        self.bar, self.task, self.val, self.pending = None, None, "", 0
        self.plain, self.epoch = False, ""

    def __enter__(self):
        if self.enabled and Console(stderr=True).is_jupyter:
            self.plain = True   # no live display: plain lines, no widget
        elif self.enabled:
            self.bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                console=Console(stderr=True), transient=False)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
            self.bar = None

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        self.epoch = f"epoch {epoch + 1}/{epochs}"
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task("", total=(epochs - epoch) * steps, stats="")
        self.bar.update(self.task, description=f"epoch {epoch + 1}/{epochs}")

    def advance(self, trainer, meter) -> None:
        """One step done; every ``every`` steps show ``meter.means()`` (an EpochMeter: one sync)."""
        if self.bar is None:
            return
        self.pending += 1
        if trainer.step % self.every == 0:
            lr = trainer.optimizer.param_groups[0]["lr"]
            loss, acc = meter.means()
            stats = f"loss {loss:.3f} acc {acc:.3f} lr {lr:.1e}{self.val}"
            self.bar.update(self.task, advance=self.pending, stats=stats)
            self.pending = 0

    def end_epoch(self, row: dict) -> None:
        if self.bar is None and not self.plain:
            return
        self.val = f" val {row['val_acc']:.3f}" if row["val_acc"] is not None else ""
        stats = f"loss {row['train_loss']:.3f} acc {row['train_acc']:.3f} lr {row['lr']:.1e}{self.val}"
        if self.plain:
            import sys

            print(f"{self.epoch}  {stats}", file=sys.stderr, flush=True)
            return
        self.bar.update(self.task, advance=self.pending, stats=stats)
        self.pending = 0
