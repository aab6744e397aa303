"""The doctor as a PyTorch Lightning callback: ``pl.Trainer(callbacks=[Doctor(out=DIR)])``.

The same :class:`~babysitter.doctor.watch.Watch` (instruments, probes, code faults, diagnosis) as
``babysit watch``, driven by Lightning's own hook names instead of torch's global optimizer hooks:
Lightning runs the training step and backward *inside* ``optimizer.step(closure)``, so the step's
pre-hook would come before its gradients exist. Here

==============================  ====================================================
Lightning hook                  the doctor
==============================  ====================================================
``on_fit_start``                attaches (module hooks, the Spy on read steps); the
                                LightningModule is the model
``on_before_optimizer_step``    the step's gradients: evidence, probes, instruments
``on_train_batch_end``          after the step: instruments, the next read step
``on_fit_end`` / exception      diagnosis -> ``DIR/diagnosis.json`` (+ run dir), the
                                findings printed on stderr
==============================  ====================================================
Needs the extra: ``pip install babysitter[lightning]``.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from babysitter.doctor.watch import Watch
from babysitter.report.console import print_verdict
from babysitter.report.notebook import show


class Doctor(pl.Callback):
    """The doctor on a Lightning run: ``pl.Trainer(callbacks=[Doctor(out=DIR)])``.

    Args:
        out: the run dir to write after fit (diagnosis.json, doctor.json, metrics.jsonl, the plots,
            report.html); None writes nothing.
        probes: run the preflight probes on copies of the LightningModule (as ``babysit watch``).
        budget: seconds the probes may take (a safety cap; 0 skips them).
        every: read the instruments every ``every`` optimizer steps.
        quiet: print nothing (the verdict goes to stderr otherwise).

    After fit: ``report`` (``{"healthy", "findings", "probes", "script", "steps", "run_dir"}``) and
    ``findings`` (most likely first).
    """

    def __init__(self, out: str | Path | None = None, probes: bool = True, budget: float = 30.0, every: int = 25,
                 quiet: bool = False):
        super().__init__()
        self.out, self.probes, self.budget, self.every, self.quiet = out, probes, budget, every, quiet
        self.watch: Watch | None = None
        self.report: dict | None = None
        self.findings: list[dict] = []

    def on_fit_start(self, trainer, pl_module):
        self.watch = Watch(out=self.out, probes=self.probes, budget=self.budget, every=self.every,
                           script=type(pl_module).__name__, optimizer_hooks=False, model=pl_module, quiet=True)
        self.watch.start()

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.watch is not None:
            self.watch.before_optimizer_step(optimizer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.watch is not None:
            self.watch.after_optimizer_step()

    def on_fit_end(self, trainer, pl_module):
        self._finish()

    def on_exception(self, trainer, pl_module, exception):
        self._finish()

    def _finish(self):
        if self.watch is None or self.report is not None:
            return
        self.report = self.watch.close()
        self.findings = self.report["findings"]
        if not self.quiet and not show(self.watch, self.report):   # a notebook: the verdict as HTML
            print_verdict(self.report, f"doctor: {self.report['script']} ({self.report['steps']} steps)", stderr=True)
