"""The doctor as a Hugging Face ``transformers.Trainer`` callback:
``Trainer(..., callbacks=[DoctorCallback(out=DIR)])``.

The same :class:`~babysitter.doctor.watch.Watch` (instruments, code faults, the loss curve, the
diagnosis) as ``babysit watch``, driven by the Trainer's own events through the watch's public host
API. The Trainer runs forward, backward, clipping and ``optimizer.step()`` itself:

================================  ===================================================================
Trainer event                     the doctor
================================  ===================================================================
``on_train_begin``                attaches to the Trainer's model (the watch's module hooks and Spy)
``on_pre_optimizer_step``         the step's gradients, *after* the Trainer clipped them
                                  (``max_grad_norm``): code faults, gradient and update instruments
``on_optimizer_step``             the update is done: the update/weight ratios
``on_log``                        the Trainer's own ``grad_norm``: the total norm *before* clipping
                                  (clipping hides an explosion from every later event), kept in
                                  ``probes["trainer"]``; non-finite or above the instruments'
                                  exploding threshold, an ``exploding_gradients`` finding
``on_train_end``                  diagnosis -> ``DIR/diagnosis.json`` (+ run dir); the verdict on stderr
================================  ===================================================================

Only the main process (``state.is_world_process_zero``) watches and prints. The Trainer has no
event for an exception: the watch of a ``train()`` that raised is closed (its hooks removed) when the
next ``train()`` with a DoctorCallback begins. The callback returns
no control and touches no tensor the Trainer uses: the Trainer computes what it computes without it.
Needs the extra: ``pip install babysitter[transformers]``.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from pathlib import Path

from transformers import TrainerCallback

from babysitter.doctor.findings import Finding, json_safe
from babysitter.doctor.readers.instruments import grad_norm_findings
from babysitter.doctor.remedies import ScriptHost
from babysitter.doctor.verdict import verdict
from babysitter.doctor.watch import Watch
from babysitter.files import write_json
from babysitter.report.console import print_verdict
from babysitter.report.notebook import Report, show

FIELDS = {f.name for f in dataclasses.fields(Finding)}
OPEN: "weakref.WeakSet[Watch]" = weakref.WeakSet()   # watches attached and not yet closed, in this process


class DoctorCallback(TrainerCallback):
    """The doctor on a ``transformers.Trainer`` run.

    Args:
        out: the run dir to write (``diagnosis.json``, ``doctor.json``, ``metrics.jsonl``, the plots and
            ``report.html``); ``None`` writes nothing (the verdict is still in ``report``).
        probes: run the preflight probes on copies of the model (as ``babysit watch``); they run when
            the watch has seen batches it can replay, else ``probes["skipped"]`` says why.
        budget: seconds the probes may take (a safety cap; 0 skips them).
        every: read the instruments every ``every`` optimizer steps (the first steps are all read).
        quiet: print nothing (the verdict is printed on stderr by the main process otherwise).
        render: the plots and report.html ``"now"``, in a ``"background"`` process, or ``"none"``.

    After training: ``report`` (``{"healthy", "findings", "probes", "script", "steps", "run_dir"}``)
    and ``findings`` (most likely first).
    """

    def __init__(self, out: str | Path | None = None, probes: bool = True, budget: float = 30.0, every: int = 25,
                 quiet: bool = False, render: str = "now"):
        if render not in ("now", "background", "none"):
            raise ValueError(f"DoctorCallback: render must be now, background or none, got {render!r}")
        if budget < 0:
            raise ValueError(f"DoctorCallback: budget must be >= 0 seconds, got {budget}")
        if every < 1:
            raise ValueError(f"DoctorCallback: every must be >= 1 step, got {every}")
        self.out, self.probes, self.budget, self.every = out, probes, budget, every
        self.quiet, self.render = quiet, render
        self.watch: Watch | None = None
        self.report: dict | None = None
        self.findings: list[dict] = []
        self.grad_norms: list[tuple[int, float]] = []   # (step, the Trainer's pre-clip total norm) at its log steps

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        for stale in list(OPEN):   # a Trainer that raised: no event closed its watch (hooks still on)
            OPEN.discard(stale)
            stale.close()
        self.watch, self.report, self.findings, self.grad_norms = None, None, [], []   # train() again: a new verdict
        if not state.is_world_process_zero or model is None:
            return
        from babysitter.doctor.readers.code_faults import nothing_to_step

        doomed = nothing_to_step(model, optimizer) if optimizer is not None else []
        if doomed:   # the Trainer's backward will fail (nothing requires grad): the verdict comes first
            self._finish(verdict(doomed, ScriptHost(type(optimizer).__name__),
                                 {"skipped": "the optimizer holds none of the model's parameters"}),
                         type(model).__name__, 0)
            return
        self.watch = Watch(out=self.out, probes=self.probes, budget=self.budget, every=self.every,
                           script=type(model).__name__, optimizer_hooks=False, model=model, render=self.render,
                           quiet=True)
        self.watch.start()
        OPEN.add(self.watch)

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        if self.watch is not None and optimizer is not None:
            self.watch.before_optimizer_step(optimizer)

    def on_optimizer_step(self, args, state, control, **kwargs):
        if self.watch is not None:
            self.watch.after_optimizer_step()

    def on_log(self, args, state, control, logs=None, **kwargs):
        norm = (logs or {}).get("grad_norm")
        if self.watch is not None and norm is not None:
            self.grad_norms.append((int(state.global_step), float(norm)))

    def on_train_end(self, args, state, control, **kwargs):
        if self.watch is None or self.report is not None:
            return
        OPEN.discard(self.watch)
        report = self.watch.close()
        norms = [n for _, n in self.grad_norms]
        s = {"steps": [st for st, _ in self.grad_norms], "total": json_safe(norms), "layers": [],
             "first_last_median": None, "non_finite": sum(not math.isfinite(n) for n in norms),
             "max_total": max((n for n in norms if math.isfinite(n)), default=None)}
        probes = {**report["probes"], "trainer": {"grad_norm_before_clipping": s,
                                                  "max_grad_norm": float(args.max_grad_norm or 0.0)}}
        # the Trainer's pre-clip norm, judged by the instruments' own rule (the gradients the watch reads are clipped)
        hidden = [] if any(f["id"] == "exploding_gradients" for f in report["findings"]) else \
            [f for f in grad_norm_findings(s) if f.id == "exploding_gradients"]
        if hidden:   # ranked again with it; else the watch's order stands
            found = [Finding(**{k: v for k, v in f.items() if k in FIELDS}) for f in report["findings"]] + hidden
            seen = report["probes"].get("watch", {})
            lr = seen.get("lr")
            host = ScriptHost(seen.get("optimizer") or "SGD", lr if lr is not None and math.isfinite(lr) else None)
            report = verdict(found, host, probes)   # the one pipeline: causes, rank, remedies
        self._finish({**report, "probes": probes}, report.get("script") or self.watch.script, self.watch.step)
        if hidden and self.out is not None and self.render == "now":
            from babysitter.report.html import write_report

            write_report(self.out)   # report.html shows the verdict diagnosis.json now holds

    def _finish(self, report: dict, script: str, steps: int) -> None:
        self.report = Report({**report, "script": script, "steps": steps,
                              "run_dir": str(self.out) if self.out is not None else None})
        self.findings = self.report["findings"]
        if self.out is not None:
            Path(self.out).mkdir(parents=True, exist_ok=True)
            write_json(Path(self.out) / "diagnosis.json", self.report)
        shown = self.watch is not None and not self.quiet and show(self.watch, self.report)   # a notebook: HTML
        if not self.quiet and not shown:
            print_verdict(self.report, f"doctor: {script} ({steps} steps)", stderr=True)
