"""The doctor on a spec: ``check`` (before training), ``diagnose`` (a run dir), the monitors of ``run``.

``check(spec)``: the preflight probes (probes.py), then a short monitored training of a number of
steps chosen from the run (:func:`monitor_steps`; seconds only a safety cap) with the in-run
instruments (instruments/) and the loss-curve reading (curves.py).
``diagnose(run_dir)``: the same reading of a finished or killed run from what it saved
(``doctor.json`` written by :class:`DoctorLog` every epoch, ``metrics.jsonl``, and ``check.json``
when the run began with a check).
Where two causes compete, :func:`settle_lr` runs a cheap experiment instead of guessing. The verdict
is :func:`babysitter.doctor.verdict.verdict`'s, as on every host.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from babysitter.doctor import instruments
from babysitter.doctor.readers import curves
from babysitter.doctor.readers import instruments as judges
from babysitter.doctor.findings import Finding
from babysitter.doctor.remedies import SpecHost
from babysitter.doctor.verdict import merge, verdict
from babysitter.errors import BadInput, TrainingFailed
from babysitter.train.events import Callback
from babysitter.files import read_json
from babysitter.train.history import History, write_json

if TYPE_CHECKING:   # the spec (pydantic) loads where a spec is read: a watched run's verdict never needs it
    from babysitter.spec import RunSpec


class DoctorLog(Callback):
    """Write the instruments' summaries to ``run_dir/doctor.json`` after every epoch and at the end,
    so ``babysit diagnose`` can read a killed run too."""

    def __init__(self, out_dir: Path, tools: list):
        self.out_dir, self.tools = Path(out_dir), tools

    def _write(self, trainer):
        write_json(self.out_dir / "doctor.json", instruments.summaries(self.tools))

    after_epoch = _write
    after_fit = _write


class Budget(Callback):
    """Stop cleanly after ``steps`` steps: the budget of a monitored run is counted in steps, so the
    same spec gives the same findings on any machine. ``seconds`` is only a safety cap (checked every
    ``every`` steps); ``stopped_by_time`` says that the cap, not the step count, ended the run."""

    def __init__(self, steps: int | None, seconds: float = math.inf, every: int = 10):
        self.steps, self.seconds, self.every, self.start = steps, seconds, every, None
        self.stopped_by_time = False

    def before_fit(self, trainer):
        self.start = time.perf_counter()

    def after_step(self, trainer):
        if self.steps is not None and trainer.step >= self.steps:
            trainer.stop_requested = True
        elif trainer.step % self.every == 0 and time.perf_counter() - self.start > self.seconds:
            trainer.stop_requested = self.stopped_by_time = True


def monitor_steps(spec: RunSpec, examples: int) -> int:
    """The steps of ``check``'s monitored training, chosen from the run: the spec's whole schedule
    (epochs x steps per epoch, as the Trainer counts them), at most ``thresholds.MONITOR_STEPS``."""
    from babysitter.doctor.thresholds import MONITOR_STEPS

    bs = spec.train.batch_size
    per_epoch = max(1, examples // bs + (examples % bs > 1))
    return min(spec.train.epochs * per_epoch, MONITOR_STEPS)


def fixed_threads(spec: RunSpec) -> RunSpec:
    """The spec with ``train.threads: auto`` replaced by ``thresholds.CHECK_THREADS``: ``auto`` times
    thread counts during training and switches between them, so a busier machine (or one pinned to
    fewer cores) would compute the probes and the monitored run at other counts, in another
    summation order, than a quiet one."""
    from babysitter.doctor.thresholds import CHECK_THREADS
    from babysitter.spec import override

    return override(spec, **{"train.threads": CHECK_THREADS}) if spec.train.threads == "auto" else spec


FEWER_STEPS_NOTE = ("stopped_by_time: the time cap ended the monitored training after {done} of {planned} steps; "
                    "the verdict rests on fewer steps (raise --budget for the full reading)")


def monitors(spec: RunSpec, out: Path | None) -> list[Callback]:
    """The instruments for a training run (plus DoctorLog writing them into ``out``)."""
    if not spec.doctor.enabled:
        return []
    tools = instruments.make_instruments(spec)
    return tools + ([DoctorLog(out, tools)] if out is not None else [])


def read_findings(sums: dict, rows: list[dict], spec: RunSpec) -> list[Finding]:
    """Findings from the instruments' summaries and the per-epoch rows."""
    return judges.findings(sums, spec) + curves.classify(sums.get("LossTrace", {}), rows, spec, sums)


def settle_lr(spec: RunSpec, data, make_model, findings: list[Finding], suggested: float | None = None,
              steps: int = 50) -> list[Finding]:
    """Is the learning rate the cause? Train ``steps`` steps from one init at the spec's lr, at a
    lower one (lr/10, or the range test's suggestion if lower still) and at a higher one (lr*10, or
    the suggestion if higher), and compare. An lr finding the experiment supports gains score;
    one it contradicts becomes info (the symptom has another cause)."""
    lr_findings = [f for f in findings if f.id in ("lr_too_high", "lr_too_low") and f.severity != "info"]
    if not lr_findings or spec.optim.name in ("lbfgs", "newton"):
        return findings
    lr = spec.optim.lr
    lower = min(lr / 10, suggested) if suggested else lr / 10
    higher = max(lr * 10, suggested) if suggested else lr * 10
    runs = {"lower": _loss_after(spec, data, make_model, lower, steps), "lr": _loss_after(spec, data, make_model, lr, steps),
            "higher": _loss_after(spec, data, make_model, higher, steps)}
    loss = {k: last for k, (first, last) in runs.items()}
    drop = {k: first - last for k, (first, last) in runs.items()}  # inf - inf is nan: a diverged run drops nothing
    evidence = (f"{steps} steps from one init reach loss {loss['lower']:.3g} at lr {lower:.3g}, "
                f"{loss['lr']:.3g} at lr {lr:.3g}, {loss['higher']:.3g} at lr {higher:.3g}")
    supported = {"lr_too_high": loss["lower"] < 0.8 * loss["lr"],
                 "lr_too_low": math.isfinite(loss["higher"]) and drop["higher"] > 2 * max(drop["lr"], 1e-3)}
    for f in lr_findings:
        if supported[f.id]:
            f.adjust(+0.3, evidence)
        else:
            f.adjust(-0.3, evidence + " — the lr alone does not explain it", severity="info")
    return findings


def _loss_after(spec, data, make_model, lr, steps) -> tuple[float, float]:
    """(mean loss of the first 5, of the last 5) of ``steps`` steps at a constant ``lr``;
    the last is inf if the run diverged."""
    from babysitter.spec import override
    from babysitter.train.trainer import Trainer

    s = override(spec, **{"optim.lr": lr, "schedule.name": "constant", "train.ensemble": None})
    trainer = Trainer(make_model(s), data, s, progress=False)
    g = torch.Generator().manual_seed(s.seed)
    n, bs = len(data.x_train), s.train.batch_size
    losses = []
    for _ in range(steps):
        idx = torch.randint(n, (min(bs, n),), generator=g)
        loss, _ = trainer.train_step(data.x_train[idx].to(trainer.device), data.y_train[idx].to(trainer.device))
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    return first, (last if math.isfinite(last) else math.inf)


def check(spec, *, budget: float | None = None, progress: bool = False, out: Path | None = None,
          steps: int | None = None, data=None) -> dict:
    """:func:`_check`, with torch's thread count as it was afterwards (the check pins its own)."""
    threads = torch.get_num_threads()
    try:
        return _check(spec, budget=budget, progress=progress, out=out, steps=steps, data=data)
    finally:
        torch.set_num_threads(threads)


def _check(spec, *, budget: float | None, progress: bool, out: Path | None, steps: int | None, data) -> dict:
    """Preflight probes, then a short monitored training of ``steps`` steps (None:
    :func:`monitor_steps` of the run; none when ``budget`` is 0) -> report. ``budget``: seconds,
    a safety cap only; a run it cuts short is reported as ``stopped_by_time``. ``data``: the
    spec's Dataset when the caller built it already (``babysit run`` builds it once)."""
    from babysitter.doctor.probes.spec_probes import run_probes
    from babysitter.spec import load_spec
    from rich.console import Console

    from babysitter.doctor.thresholds import TIME_CAP
    from babysitter.train.run import build
    from babysitter.train.trainer import Trainer

    spec, budget = load_spec(spec), TIME_CAP if budget is None else budget
    host_spec, spec = spec, fixed_threads(spec)   # the experiments run on the pinned copy; remedies edit the spec
    model, data = build(spec, data=data)
    make_model = lambda s: build(s, data=data)[0]  # noqa: E731
    with Console(stderr=True, quiet=not progress).status(
            "doctor: preflight probes (data, init loss, overfit 20 examples, gradient check, lr range test)"):
        probes, found = run_probes(spec, data, make_model)
    host = SpecHost(host_spec, probes)
    if budget <= 0:  # probes only (babysit run monitors the real training instead)
        return verdict(found, host, probes)
    tools = instruments.make_instruments(spec)
    planned = monitor_steps(spec, len(data.x_train)) if steps is None else steps
    limit = Budget(planned, budget)
    trainer = Trainer(model, data, spec, out, callbacks=[*tools, limit], progress=progress)
    t0 = time.perf_counter()
    try:
        trainer.fit()
    except TrainingFailed:
        pass  # the NonFinite instrument recorded it; the finding says so
    probes["monitored_training"] = {"epochs": trainer.epoch, "steps": trainer.step, "planned_steps": planned,
                                    "seconds": round(time.perf_counter() - t0, 2),
                                    "stopped_by_budget": trainer.stop_requested,
                                    "stopped_by_time": limit.stopped_by_time,
                                    "val_acc": trainer.history.rows[-1].get("val_acc") if trainer.history.rows else None}
    probes["stopped_by_time"] = limit.stopped_by_time
    if limit.stopped_by_time:
        probes["note"] = FEWER_STEPS_NOTE.format(done=trainer.step, planned=planned)
    found += read_findings(instruments.summaries(tools), trainer.history.rows, spec)
    settle = lambda fs: settle_lr(spec, data, make_model, fs, probes.get("lr_range", {}).get("suggested"))  # noqa: E731
    return verdict(found, host, probes, experiment=settle)


def diagnose(run_dir: str | Path, checked: dict | None = None) -> dict:
    """Findings of a finished or killed run, from what its run dir holds. ``checked``: the check
    that began the run, in memory (``babysit run``); None reads ``check.json`` if there is one."""
    from babysitter.spec import load_spec

    run_dir = Path(run_dir)
    if not (run_dir / "spec.yaml").is_file():
        raise BadInput(f"{run_dir} is not a run dir: no spec.yaml there")
    spec = load_spec(run_dir / "spec.yaml")
    rows = History.read(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    sums = read_json(run_dir / "doctor.json", "doctor", default={})
    if checked is None:
        checked = read_json(run_dir / "check.json", "check", default={})
    try:
        probes = dict(checked.get("probes", {}))
        earlier = [Finding(**{k: v for k, v in f.items() if k in Finding.__dataclass_fields__})
                   for f in checked.get("findings", [])]
        for f in earlier:   # the check's remedy is written again for this run
            f.advice, f.changes = "", {}
    except (TypeError, ValueError, AttributeError) as e:
        raise BadInput(f"check {run_dir / 'check.json'}: not a check result ({e}); the file is damaged") from None
    try:
        found = merge(earlier + read_findings(sums, rows, spec))
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as e:
        if isinstance(e, BadInput):
            raise
        raise BadInput(f"cannot read the run in {run_dir}: doctor.json or metrics.jsonl holds values of the wrong "
                       f"type ({type(e).__name__}: {e}); the files are damaged") from None
    if not sums:
        probes["note"] = "no doctor.json: the run was trained without instruments; only its curves were read"
    return verdict(found, SpecHost(spec, probes), probes)
