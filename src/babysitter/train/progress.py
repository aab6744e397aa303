"""Training progress on stderr: on a terminal, a rich progress bar for the whole run (loss,
accuracy, lr); elsewhere (CI logs, nohup, a notebook's captured stderr) one plain line per epoch,
``epoch 3/15  loss 0.412  acc 0.871  lr 1.0e-02  val 0.853  2.1 s``, never a bar cut short.

The loss shown is the running mean of the epoch so far; it is read from the device only every
``every`` steps so the bar does not force a sync on each step, and the bar moves by ``every``
steps at a time (rich takes a lock per update). Disabled (``enabled=False``), the trainer does
not call it per step at all.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

SLOWED = 1.5   # an epoch's seconds per step over the fastest epoch's: other work is taking the CPUs


class Progress:
    def __init__(self, enabled: bool = True, every: int = 20, plain: bool | None = None, slow_hint: bool = False):
        """``plain``: one line per epoch instead of the bar (default: when stderr is no terminal).
        ``slow_hint``: the run has a fixed CPU thread count; say once (:func:`slowed`) when an
        epoch's steps take :data:`SLOWED` times the fastest epoch's so far."""
        self.enabled, self.every = enabled, every
        self.plain = plain if plain is not None else not _is_tty(sys.stderr)
        self.bar, self.task, self.val, self.pending, self.epochs = None, None, "", 0, 0
        self.slow_hint, self.step_seconds, self.last_step, self.hinted = slow_hint, [], None, False

    def __enter__(self):
        if self.enabled and not self.plain:
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
        self.epochs = epochs
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task("", total=(epochs - epoch) * steps, stats="")
        self.bar.update(self.task, description=f"epoch {epoch + 1}/{epochs}")

    def _watch_speed(self, row: dict) -> None:
        """One line, once, when this epoch's seconds per step exceed SLOWED x the fastest so far."""
        steps = row["step"] - self.last_step if self.last_step is not None else None
        self.last_step = row["step"]
        if not steps or not row.get("seconds"):
            return
        per_step = row["seconds"] / steps
        if self.step_seconds and per_step > SLOWED * min(self.step_seconds):
            self.hinted = True
            line = slowed(row["epoch"], per_step / min(self.step_seconds))
            if self.bar is not None:
                self.bar.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=sys.stderr, flush=True)
        self.step_seconds.append(per_step)

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
        if self.enabled and self.plain:
            print(plain_line(row, self.epochs), file=sys.stderr, flush=True)
        if self.enabled and self.slow_hint and not self.hinted:
            self._watch_speed(row)
        if self.bar is None:
            return
        self.val = f" val {row['val_acc']:.3f}" if row["val_acc"] is not None else ""
        stats = f"loss {row['train_loss']:.3f} acc {row['train_acc']:.3f} lr {row['lr']:.1e}{self.val}"
        self.bar.update(self.task, advance=self.pending, stats=stats)
        self.pending = 0


def plain_line(row: dict, epochs: int) -> str:
    """One epoch's metrics.jsonl row as a line of text (no colour, no carriage return)."""
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key, name, fmt in (("train_loss", "loss", ".4g"), ("train_acc", "acc", ".3f"), ("lr", "lr", ".1e"),
                           ("val_acc", "val", ".3f")):
        if row.get(key) is not None:
            parts.append(f"{name} {row[key]:{fmt}}")
    if row.get("seconds") is not None:
        parts.append(f"{row['seconds']:.1f} s")
    return "  ".join(parts)


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def slowed(epoch: int, ratio: float) -> str:
    import torch

    return (f"babysit: epoch {epoch}'s steps took {ratio:.1f}x the fastest epoch's: other work on this machine is "
            f"slowing the fixed {torch.get_num_threads()} thread(s); train.threads: auto adapts the count "
            f"(faster on a shared machine, not bitwise reproducible)")
