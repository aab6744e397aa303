"""``babysit treat``: the doctor applies its own advice, checks again, and proves the repair.

    check(spec) -> while not healthy and rounds remain:
        pick a change (default: the ``changes`` of the top-ranked warning/error finding not yet
        tried on this spec) -> check(spec + change) -> keep it unless the doctor finds the
        result worse (:func:`worse`), else undo it (the next round tries the next finding)
    -> train the original and the treated spec in full, same seed -> compare val and test accuracy

A round is one change and one check. :func:`heal` is the loop alone (what ``bench/treat.py`` runs
for both the doctor's choice and a random baseline, :func:`random_change`); :func:`treat` adds the
two full trainings and the files.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from babysitter.doctor.remedies import apply, next_remedy
from babysitter.doctor.spec_edits import FITTING_INIT
from babysitter.doctor.thresholds import TIME_CAP
from babysitter.errors import BadInput, TrainingFailed
from babysitter.spec import RunSpec, load_spec
from babysitter.train.history import TAKEN_NO_RESUME, History, prepare_run_dir, write_json, write_spec

SEVERITY_WEIGHT = {"error": 2, "warning": 1}
VAL_DROP = 0.02   # monitored val accuracy lower by more than this, with no fewer alarms: worse

Chooser = Callable[[RunSpec, dict, set], tuple[str | None, dict] | None]


def alarms(report: dict) -> list[dict]:
    """The warning/error findings, most likely first."""
    return [f for f in report["findings"] if f["severity"] in SEVERITY_WEIGHT]


def burden(report: dict) -> int:
    """How ill the doctor finds a spec: 2 per error + 1 per warning."""
    return sum(SEVERITY_WEIGHT[f["severity"]] for f in alarms(report))


def worse(new: dict, old: dict) -> bool:
    """By the doctor's own reading: more alarms (weighted), or as many and a monitored val accuracy
    more than VAL_DROP lower."""
    if burden(new) != burden(old):
        return burden(new) > burden(old)
    va = lambda r: (r.get("probes", {}).get("monitored_training") or {}).get("val_acc")  # noqa: E731
    a, b = va(new), va(old)
    return a is not None and b is not None and a < b - VAL_DROP


def _key(changes: dict) -> str:
    return json.dumps(changes, sort_keys=True)


def advised(spec: RunSpec, report: dict, tried: set) -> tuple[str | None, dict] | None:
    """The doctor's choice: the first alarm (ranked) whose ``changes`` were not tried on this spec;
    when they were (or it has none), the next remedy on the same finding's path
    (:func:`~babysitter.doctor.remedies.next_remedy`: init, then normalisation, then activation)."""
    for f in alarms(report):
        if f.get("changes") and _key(f["changes"]) not in tried:
            return f["id"], f["changes"]
        nxt = next_remedy(f["id"], spec, tried)
        if nxt:
            return f["id"], nxt
    return None


def heal(spec, *, rounds: int = 3, budget: float = TIME_CAP, choose: Chooser = advised,
         on_round: Callable[[int, str], None] | None = None) -> dict:
    """The check -> change -> check loop. Returns ``{"healthy", "rounds": [{"findings" (the alarms
    before), "treated" (the finding whose changes were applied; None: random), "why" (its evidence),
    "changes", "kept", "healthy", "found_after"}], "spec" (RunSpec), "report" (the last kept
    check), "checks", "seconds"}``. ``on_round(n, what)`` reports progress."""
    from babysitter.doctor.spec_run import check

    _check_rounds(rounds)
    spec, t0 = load_spec(spec), time.perf_counter()
    say = on_round or (lambda n, what: None)
    say(0, "check")
    report, history, tried, checks = check(spec, budget=budget), [], set(), 1
    while not report["healthy"] and len(history) < rounds:
        pick = choose(spec, report, tried)
        if pick is None:   # nothing left to try on this spec
            break
        treated, changes = pick
        tried.add(_key(changes))
        say(len(history) + 1, f"{treated or 'random'}: {_describe(changes)}")
        candidate = apply(spec, changes)
        new = check(candidate, budget=budget)
        checks += 1
        kept = not worse(new, report)
        why = next((f["evidence"] for f in alarms(report) if f["id"] == treated), None)
        history.append({"findings": [f["id"] for f in alarms(report)], "treated": treated, "why": why,
                        "changes": changes, "kept": kept, "healthy": new["healthy"],
                        "found_after": [f["id"] for f in alarms(new)]})
        if kept:
            spec, report, tried = candidate, new, set()
    return {"healthy": report["healthy"], "rounds": history, "spec": spec, "report": report, "checks": checks,
            "seconds": round(time.perf_counter() - t0, 2)}


def _check_rounds(rounds: int) -> None:
    if rounds < 0:
        raise BadInput(f"--rounds must be >= 0, got {rounds}")


def _describe(changes: dict) -> str:
    return ", ".join(f"{k}: {old} -> {new}" for k, (old, new) in changes.items())


# ---------------------------------------------------------------- the random baseline
def random_change(rng: np.random.Generator) -> Chooser:
    """One random change of one key among the spec's valid values (Kim et al., ICST 2023: a random
    baseline matched the repair tools): lr x 10^U(-2, 2), l2 x 10^U(-2, 2) (from 0: 10^U(-5, -2)),
    another init, activation, norm, optimizer, batch size, dropout or preprocessing."""
    def choose(spec: RunSpec, report: dict, tried: set):
        for _ in range(50):   # redraw a draw that changes nothing, was tried, or gives no valid spec
            key, new = _draw(spec, rng)
            old = _value(spec, key)
            changes = {key: [old, new]}
            if new == old or _key(changes) in tried:
                continue
            try:
                apply(spec, changes)
            except BadInput:
                continue
            return None, changes
        return None
    return choose


def _value(spec: RunSpec, key: str):
    section, leaf = key.split(".")
    return getattr(getattr(spec, section), leaf)


def _draw(spec: RunSpec, rng: np.random.Generator) -> tuple[str, object]:
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    kind = pick(["lr", "l2", "init", "activation", "norm", "optimizer", "batch_size", "dropout", "preprocess"])
    if kind == "lr":
        return "optim.lr", float(f"{spec.optim.lr * 10 ** rng.uniform(-2, 2):.2g}")
    if kind == "l2":
        l2 = spec.regularize.l2
        return "regularize.l2", float(f"{(l2 * 10 ** rng.uniform(-2, 2) if l2 > 0 else 10 ** rng.uniform(-5, -2)):.2g}")
    if kind == "init":
        return "model.init", pick(["small", "normal", "xavier", "xavier_uniform", "he", "lecun"])
    if kind == "activation":
        return "model.activation", pick(sorted(FITTING_INIT))
    if kind == "norm":
        return "model.norm", pick(["none", "batch"])
    if kind == "optimizer":
        return "optim.name", pick(["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
    if kind == "batch_size":
        return "train.batch_size", pick([16, 32, 64, 128, 256])
    if kind == "dropout":
        return "model.dropout", pick([0.0, 0.2, 0.5])
    return "data.preprocess", pick([[], ["center"], ["standardize"]])


# ---------------------------------------------------------------- before and after, in full
def train_in_full(spec: RunSpec, out: Path | None, progress: bool = False) -> dict:
    """Train ``spec`` to the end (instruments attached, run dir ``out``); ``{"val_acc" (last epoch),
    "test_acc", "failed", "seconds"}``. A run that diverged counts as val/test accuracy 0."""
    from babysitter.doctor.spec_run import monitors
    from babysitter.train import run

    t0 = time.perf_counter()
    rows: list[dict] = []
    try:
        final = run.train(spec, out, force=True, progress=progress, callbacks=monitors(spec, out))
        failed = None
    except TrainingFailed as e:
        final, failed = {"test_acc": 0.0}, str(e)
    if out is not None and (out / "metrics.jsonl").exists():
        rows = History.read(out / "metrics.jsonl")
    val = rows[-1].get("val_acc") if rows and failed is None else (0.0 if failed else None)
    test = final.get("test_acc")
    return {"val_acc": val if val is None or math.isfinite(val) else 0.0,
            "test_acc": test if test is not None and math.isfinite(test) else 0.0,
            "failed": failed, "seconds": round(time.perf_counter() - t0, 2)}


def treat(spec, out: str | Path, *, rounds: int = 3, budget: float = TIME_CAP, progress: bool = False,
          force: bool = False) -> dict:
    """The whole treatment; writes ``out/treated.yaml``, ``out/treat.json``, ``out/before/`` and
    ``out/after/`` (run dirs; the treated run's report.html says what was changed and why) and
    ``out/treat.png`` (both runs' curves). Returns treat.json's content."""
    from babysitter.doctor.spec_run import diagnose
    from babysitter.report.html import write_report
    from babysitter.report.plots import plot_before_after

    spec = load_spec(spec)
    _check_rounds(rounds)   # before the dir is made: bad input creates nothing
    out = prepare_run_dir(out, force=force, message=TAKEN_NO_RESUME)
    bar = _Progress(progress, rounds)
    with bar:
        healed = heal(spec, rounds=rounds, budget=budget, on_round=bar.round)
        treated = healed["spec"]
        write_spec(out / "treated.yaml", treated.to_dict())
        bar.train("original")
        before = train_in_full(spec, out / "before")
        if treated == spec:   # unchanged: one training serves both sides
            after, same = dict(before), True
        else:
            bar.train("treated")
            after, same = train_in_full(treated, out / "after"), False
    result = {"healthy": healed["healthy"],
              "rounds": healed["rounds"], "spec": treated.to_dict(), "findings": healed["report"]["findings"],
              "before": before, "after": after, "same_spec": same, "checks": healed["checks"],
              "seconds": {"treat": healed["seconds"], "train_before": before["seconds"],
                          "train_after": 0.0 if same else after["seconds"]}}
    write_json(out / "treat.json", result)
    treated_dir = out / ("before" if same else "after")
    write_json(treated_dir / "treat.json", result)
    write_json(treated_dir / "check.json", healed["report"])   # the last check was of the treated spec
    write_json(treated_dir / "diagnosis.json", diagnose(treated_dir))
    plot_before_after(out / "before", treated_dir, out / "treat.png")
    write_report(treated_dir)
    result["report"] = str(treated_dir / "report.html")
    return result


class _Progress:
    """One rich progress bar on stderr (none when off): a step per check round and per full
    training, its description saying which round / which training runs now."""

    def __init__(self, on: bool, rounds: int):
        self.on, self.rounds, self.bar, self.task, self.done = on, rounds, None, None, 0

    def __enter__(self):
        if self.on:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]treat[/bold] {task.description}"), BarColumn(bar_width=20),
                                MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True))
            self.bar.__enter__()
            self.task = self.bar.add_task("check", total=self.rounds + 3)
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.update(self.task, completed=self.rounds + 3)
            self.bar.__exit__(*exc)

    def _step(self, description: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=description, completed=self.done)
            self.done += 1

    def round(self, n: int, what: str) -> None:
        self._step(f"round {n}/{self.rounds}: {what}" if n else "check")

    def train(self, which: str) -> None:
        self.done = max(self.done, self.rounds + 1)
        self._step(f"training the {which} spec in full")
