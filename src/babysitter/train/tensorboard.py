"""TensorBoard event files for a run (spec ``log: {tensorboard: true}``), in ``<run dir>/tb``.

Open them with ``tensorboard --logdir runs/X/tb``. Written through ``torch.utils.tensorboard``
(the ``tensorboard`` package), at each epoch's end, x axis = the optimizer step:

    train/loss, train/acc, val/loss, val/acc, lr       the epoch's metrics.jsonl row
    update_ratio/<layer>                                ||dW|| / ||W|| at the doctor's due steps
    grad_norm/<layer>                                   ||dL/dW|| at the due steps
    activation_{mean,std,saturated,dead}/<layer>        the activation statistics at the due steps
    weights/<layer>, grads/<layer>                      histograms of the weighted layers

The instrument values are read from the instruments' public ``summary()`` (the doctor's own
numbers, no second measurement); each due step is written once.
"""

from __future__ import annotations

import math
from pathlib import Path

from babysitter.train.events import Callback

# instrument class -> (summary key, tag prefix)
INSTRUMENT_TAGS = {
    "UpdateRatio": [("ratio", "update_ratio")],
    "GradNorms": [("norm", "grad_norm")],
    "Activations": [(k, f"activation_{k}") for k in ("mean", "std", "saturated", "dead")],
}
ROW_TAGS = {"train_loss": "train/loss", "train_acc": "train/acc", "val_loss": "val/loss", "val_acc": "val/acc", "lr": "lr"}


def tensorboard_log(spec, out) -> list:
    """``[TensorBoardLog(out / "tb")]`` when the spec asks for it (``log.tensorboard``) and there is
    a run dir, else ``[]``. Put it after the instruments: it reads what they recorded."""
    return [TensorBoardLog(Path(out) / "tb")] if spec.log.tensorboard and out is not None else []


class TensorBoardLog(Callback):
    """Write the run's curves, the instruments' readings and weight/gradient histograms to ``logdir``."""

    def __init__(self, logdir: str | Path, histograms: bool = True):
        self.logdir, self.histograms = Path(logdir), histograms
        self.writer = None
        self.written: dict[str, int] = {}  # instrument -> last due step written

    def before_fit(self, trainer):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.logdir))
        for cb in trainer.callbacks:  # a resumed run: what the instruments restored was written before
            if type(cb).__name__ in INSTRUMENT_TAGS and (steps := cb.summary().get("steps")):
                self.written[type(cb).__name__] = max(steps)

    def after_epoch(self, trainer):
        self._row(trainer.history.rows[-1], trainer.step)
        for cb in trainer.callbacks:
            name = type(cb).__name__
            if name in INSTRUMENT_TAGS:
                self._instrument(name, cb.summary())
        if self.histograms:
            self._histograms(trainer.model, trainer.step)
        self.writer.flush()

    def _row(self, row: dict, step: int) -> None:
        for key, tag in ROW_TAGS.items():
            value = row.get(key)
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, step)

    def _instrument(self, name: str, summary: dict) -> None:
        steps, last = summary.get("steps", []), self.written.get(name, -1)
        for key, prefix in INSTRUMENT_TAGS[name]:
            for layer, values in (summary.get(key) or {}).items():
                for s, v in zip(steps, values):
                    if s > last and v is not None and math.isfinite(v):
                        self.writer.add_scalar(f"{prefix}/{layer}", v, s)
        if steps:
            self.written[name] = max(steps)

    def _histograms(self, model, step: int) -> None:
        from babysitter.nn.init import weighted_layers

        for layer, weight in weighted_layers(model):
            self.writer.add_histogram(f"weights/{layer}", weight.detach().float().cpu(), step)
            if weight.grad is not None:
                self.writer.add_histogram(f"grads/{layer}", weight.grad.detach().float().cpu(), step)

    def after_fit(self, trainer):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def write_events(logdir: str | Path, rows: list[dict], summaries: dict[str, dict]) -> None:
    """The same event files from a finished run's metrics rows and the instruments' summaries
    (``doctor.json``): how ``babysit watch --tensorboard`` writes them once the script has ended, so
    the user's steps pay nothing for it. No histograms (the weights are the script's)."""
    from torch.utils.tensorboard import SummaryWriter

    log = TensorBoardLog(logdir, histograms=False)
    log.writer = SummaryWriter(log_dir=str(logdir))
    for row in rows:
        log._row(row, row["step"])
    for name, summary in summaries.items():
        if name in INSTRUMENT_TAGS:
            log._instrument(name, summary)
    log.after_fit(None)
