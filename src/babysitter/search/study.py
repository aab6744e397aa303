"""Random search on Optuna (CS231n: random beats grid; search in log space; a few epochs per trial).

Each trial trains ``epochs`` epochs through the normal trainer with the sampled spec keys and
reports the validation accuracy of every epoch to Optuna (so its median / ASHA pruners can stop
it). The lecture's divergence rule stops a trial early: running loss > 3x the initial loss, or not
finite. Workers are local processes that share one Optuna storage (a journal file, or a database
URL such as ``postgresql://``); the study stops at ``n_trials`` finished trials in total.

Faults: finished trials live in the storage, so a killed worker loses none. Its RUNNING trial is
failed when the search is started again: RDB storages use Optuna's heartbeat
(``fail_stale_trials``); the journal has none, so each trial records ``worker = host:pid`` and a
restart fails RUNNING trials whose process on this host is gone, or that started more than
``stale_after`` seconds ago on another host.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import socket
import time
import warnings
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from babysitter.errors import BadInput, TrainingFailed
from babysitter.files import child_dir, contents, ensure_locked, is_ours, lock_dir, prepare_dir
from babysitter.search.space import Space, corners, edge_warnings, grid_space, load_space, space_to_dict
from babysitter.spec import RunSpec, load_spec, override
from babysitter.train.events import Callback

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
SAMPLERS, PRUNERS = ("random", "grid"), ("none", "median", "asha")
DIVERGE_FACTOR = 3.0
HEARTBEAT_S, GRACE_S = 10, 60  # RDB: a trial silent for GRACE_S seconds is failed on the next start


# ---------------------------------------------------------------- trainer callbacks
class StopOnDivergence(Callback):
    """CS231n: "if cost > 3 * original cost, break out early". The first step's loss is the original."""

    def __init__(self, factor: float = DIVERGE_FACTOR):
        self.factor, self.initial, self.reason = factor, None, None

    def after_step(self, trainer):
        loss = float(trainer.loss.detach())
        if self.initial is None:
            self.initial = loss
        if not math.isfinite(loss) or loss > self.factor * self.initial:
            self.reason = f"diverged: loss {loss:.4g} > {self.factor:g} x initial {self.initial:.4g} at step {trainer.step}"
            trainer.stop_requested = True


class ReportToTrial(Callback):
    """Report each epoch's validation accuracy to the Optuna trial; stop when its pruner says so."""

    def __init__(self, trial):
        self.trial, self.pruned_at, self.val_acc, self.epochs = trial, None, None, 0

    def after_epoch(self, trainer):
        self.val_acc, self.epochs = trainer.history.rows[-1]["val_acc"], trainer.epoch
        if self.val_acc is None:
            return
        self.trial.report(self.val_acc, trainer.epoch)
        if self.trial.should_prune():
            self.pruned_at = trainer.epoch
            trainer.stop_requested = True


# ---------------------------------------------------------------- storage, sampler, pruner
def open_storage(storage: str):
    """A database URL (``postgresql://``, ``sqlite:///``...) -> RDBStorage with heartbeat;
    anything else is a journal file path -> JournalStorage(JournalFileBackend(path))."""
    if "://" in storage:
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(storage, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
        except Exception as e:  # a driver missing or a server down: the user's to fix
            raise BadInput(f"storage {storage}: cannot open: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    path = Path(storage)
    check_journal(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    except OSError as e:
        raise BadInput(f"--storage {storage}: cannot open the journal: {e.strerror or e}") from None


def check_journal(path: Path) -> None:
    """BadInput unless ``path`` is absent, empty, or an Optuna journal (JSON lines with an ``op_code``)."""
    if path.is_dir():
        raise BadInput(f"--storage {path} is a directory; give a journal file path (e.g. {path / 'journal.log'})")
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb") as f:
        first = f.readline(1 << 16)
    try:
        op = json.loads(first.decode("utf-8"))
    except ValueError:
        op = None
    if not isinstance(op, dict) or "op_code" not in op:
        raise BadInput(f"--storage {path} is not an Optuna journal file (its first line is not a journal entry); "
                       f"name a new file or a database URL")


def make_sampler(name: str, space: Space, seed: int):
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    raise BadInput(f"unknown sampler '{name}'; valid: {', '.join(SAMPLERS)}")


def make_pruner(name: str):
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner()
    raise BadInput(f"unknown pruner '{name}'; valid: {', '.join(PRUNERS)}")


# ---------------------------------------------------------------- one trial
def objective(trial, base: RunSpec, space: Space, epochs: int) -> float:
    """Train the sampled spec for ``epochs`` epochs; returns the last epoch's validation accuracy."""
    from babysitter.train.run import train

    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    params = {p.path: p.suggest(trial) for p in space.values()}
    spec = override(base, **params, **{"train.epochs": epochs})
    diverge, report = StopOnDivergence(), ReportToTrial(trial)
    t0 = time.perf_counter()
    failed = None
    try:
        train(spec, None, progress=False, callbacks=[diverge, report])
    except TrainingFailed as e:
        failed = str(e)
    trial.set_user_attr("seconds", time.perf_counter() - t0)
    trial.set_user_attr("val_acc", report.val_acc)
    trial.set_user_attr("epochs", report.epochs)
    reason = failed or diverge.reason or (f"pruned by the pruner after epoch {report.pruned_at}" if report.pruned_at else None)
    if reason is not None:
        trial.set_user_attr("reason", reason)
        raise optuna.TrialPruned(reason)
    return report.val_acc


# ---------------------------------------------------------------- workers
def fail_stale(study, stale_after: float) -> list[int]:
    """Fail RUNNING trials left by killed workers (see the module docstring); returns their numbers."""
    storage = study._storage
    if optuna.storages._heartbeat.is_heartbeat_enabled(storage):
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        now = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        return sorted(before - now)
    host, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        whose = t.user_attrs.get("worker", "")
        worker_host, _, pid = whose.rpartition(":")
        gone = worker_host == host and pid.isdigit() and not _alive(int(pid))
        old = t.datetime_start is not None and time.time() - t.datetime_start.timestamp() > stale_after
        if gone or old:
            try:
                storage.set_trial_system_attr(t._trial_id, "fail_reason", "worker died" if gone else "stale")
                storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
                failed.append(t.number)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another process finished or failed it meanwhile
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker(job: dict, index: int, threads: int) -> None:
    """One worker process: its own sampler seed, ``threads`` torch threads, the shared study."""
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = load_spec(job["spec"])
    space = load_space(job["space"], base)
    study = optuna.load_study(study_name=job["study"], storage=open_storage(job["storage"]),
                              sampler=make_sampler(job["sampler"], space, job["seed"] * 1000 + index),
                              pruner=make_pruner(job["pruner"]))
    stop = optuna.study.MaxTrialsCallback(job["trials"], states=FINISHED)
    study.optimize(lambda trial: objective(trial, base, space, job["epochs"]),
                   n_trials=job["per_worker"], callbacks=[stop], catch=(Exception,))


def run_workers(job: dict, workers: int) -> None:
    """``workers`` local processes ('spawn': no torch state shared), or this process for one."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    if workers == 1:
        before = torch.get_num_threads()
        try:
            worker(job, 0, threads)
        finally:
            torch.set_num_threads(before)
        return
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(job, i, threads)) for i in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    dead = [p.exitcode for p in procs if p.exitcode != 0]
    if dead:
        raise TrainingFailed(f"{len(dead)} of {workers} search workers exited with status {dead}")


# ---------------------------------------------------------------- the search
def search(spec, space=None, *, trials: int, epochs: int | None = None, workers: int = 1,
           storage: str | None = None, study: str | None = None, sampler: str = "random",
           pruner: str = "none", refine: str | None = None, out: str | Path | None = None,
           seed: int = 0, stale_after: float = 3600.0) -> dict:
    """Run (or continue) a study until it holds ``trials`` finished trials; returns the result dict.

    ``refine``: the name of a finished coarse study in the same storage; the new study (default name
    ``<refine>-fine``) searches the narrowed space (:mod:`babysitter.search.refine`).
    """
    if spec is None and refine is None:
        raise BadInput("give a SPEC for a coarse search (only --refine STUDY can take the coarse study's spec)")
    base = load_spec(spec) if spec is not None else None
    if trials < 1 or workers < 1 or (epochs is not None and epochs < 1):
        raise BadInput("--trials, --workers and --epochs must be at least 1")
    if sampler not in SAMPLERS:
        raise BadInput(f"unknown sampler '{sampler}'; valid: {', '.join(SAMPLERS)}")
    make_pruner(pruner)
    if refine is not None and space is not None:
        raise BadInput("give --space SPACE for a coarse search or --refine STUDY for the fine one, not both")
    if refine is None and space is None:
        raise BadInput("give --space SPACE (or --refine STUDY to search around a finished study)")
    if refine is None:
        space = load_space(space, base)  # a bad space fails before the storage is touched
    if base is not None:  # a missing or damaged data file: one line now, not a failed trial in each worker
        from babysitter.data import load_data

        load_data(base.data, base.seed)
    storage = str(storage or Path("runs") / "search" / "journal.log")
    if "://" not in storage:
        check_journal(Path(storage))
    if study is not None:
        child_dir("runs/search", study, "--study")  # a study name that becomes a folder stays inside it
    study = study or (f"{refine}-fine" if refine is not None else base.name)
    out = Path(out) if out is not None else child_dir(Path("runs") / "search", study, "study name")
    _check_out(out)
    made_out = not out.exists()
    with lock_dir(out):  # one search writes this study's plots at a time
        ensure_locked(out) if contents(out) else prepare_dir(out, kind="search")
        try:
            store = open_storage(storage)
            if refine is not None:
                space, base = _refined_space(store, storage, refine, base)
        except BadInput:
            if made_out and not contents(out):  # refused before any plot: leave no empty folder behind
                shutil.rmtree(out, ignore_errors=True)
            raise
        return _search(base, space, store, storage, study, epochs or base.train.epochs, trials, workers, sampler,
                       pruner, refine, seed, stale_after, out)


def _refined_space(store, storage: str, refine: str, base: RunSpec | None) -> tuple[Space, RunSpec]:
    """The space of the finished coarse study ``refine``, narrowed around its best trials, and the
    base spec (``base``, or the one the coarse study stored: the fine stage needs no SPEC again)."""
    from babysitter.search.refine import narrow_space

    try:
        coarse = optuna.load_study(study_name=refine, storage=store)
    except KeyError:
        raise BadInput(f"--refine {refine}: no such study in {storage}") from None
    if base is None:
        if "spec" not in coarse.user_attrs:
            raise BadInput(f"--refine {refine}: the study stores no spec (made by an older version); give the SPEC")
        base = load_spec(coarse.user_attrs["spec"])
    coarse_space = load_space(coarse.user_attrs["space"], base)
    try:
        return narrow_space(coarse_space, coarse.get_trials(deepcopy=False)), base
    except ValueError as e:
        raise BadInput(f"--refine {refine}: {e}") from None


def _check_out(out: Path) -> None:
    """BadInput unless ``out`` can take the plots: absent, empty, or a folder of ours (marked, or
    holding only PNGs: the plots of a search from before the marker)."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"search --out {out} is a file; give a folder for the plots")
    held = contents(out)
    if held and not is_ours(out) and not all(p.suffix == ".png" and p.is_file() for p in held):
        raise BadInput(f"search --out {out} holds files not written by babysitter; choose another folder")


def _search(base, space, store, storage, study, epochs, trials, workers, sampler, pruner, refine, seed,
            stale_after, out: Path) -> dict:
    """The study's trials (run in ``workers`` processes) and its summary with plots in ``out``."""
    made = optuna.create_study(study_name=study, storage=store, direction="maximize", load_if_exists=True)
    stored = made.user_attrs.get("space")
    if stored is not None and stored != space_to_dict(space):
        raise BadInput(f"study '{study}' in {storage} was run with another space; name a new study with --study")
    made.set_user_attr("space", space_to_dict(space))
    made.set_user_attr("spec", base.to_dict())  # what --refine reads back when no SPEC is given
    if refine is not None:
        made.set_user_attr("refined_from", refine)
    if refine is None and sampler == "random" and not made.get_trials(deepcopy=False):
        for params in corners(space):  # the lecture's "widen the range if the best is at its edge" needs the edges
            made.enqueue_trial(params)
    failed = fail_stale(made, stale_after)
    left = trials - len(made.get_trials(deepcopy=False, states=FINISHED))
    if left > 0:
        job = {"spec": base.to_dict(), "space": space_to_dict(space), "study": study, "storage": storage,
               "sampler": sampler, "pruner": pruner, "seed": seed, "epochs": epochs, "trials": trials,
               "per_worker": math.ceil(left / workers)}
        run_workers(job, min(workers, left))
    result = summarize(optuna.load_study(study_name=study, storage=store), space, storage)
    result["stale_failed"] = failed
    result["plots"] = plot_scatter(result, space, out)
    return result


def summarize(study, space: Space, storage: str) -> dict:
    """The study as JSON: trials sorted by val accuracy (best first), the best, edge warnings."""
    rows = [{"number": t.number, "state": t.state.name.lower(), "params": t.params,  # complete | pruned | fail | ...
             "val_acc": t.user_attrs.get("val_acc"), "epochs": t.user_attrs.get("epochs"),
             "seconds": t.user_attrs.get("seconds"), "reason": t.user_attrs.get("reason")}
            for t in study.get_trials(deepcopy=False)]
    rows.sort(key=lambda r: (r["state"] != "complete", -(r["val_acc"] if r["val_acc"] is not None else -1)))
    complete = [r for r in rows if r["state"] == "complete"]
    best = complete[0] if complete else None
    return {"study": study.study_name, "storage": storage, "space": space_to_dict(space), "trials": rows,
            "best": best, "warnings": edge_warnings(space, best["params"]) if best else [],
            "compute_seconds": sum(r["seconds"] or 0.0 for r in rows)}


def plot_scatter(result: dict, space: Space, out: Path) -> list[str]:
    """One PNG per numeric parameter: val accuracy against its value (log x axis for log params)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in space.values():
        if not p.numeric:
            continue
        pts = [(r["params"][p.path], r["val_acc"]) for r in result["trials"]
               if p.path in r["params"] and r["val_acc"] is not None]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        if pts:
            ax.scatter(*zip(*pts), s=18)
        if p.log:
            ax.set_xscale("log")
        ax.set_xlabel(p.path)
        ax.set_ylabel("val accuracy")
        ax.set_title(f"{result['study']}: {len(pts)} trials")
        fig.tight_layout()
        path = out / f"{p.path.replace('.', '_')}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(str(path))
    return paths


def results_table(result: dict):
    """The lecture's printout as a rich table: val_acc, then the params, best first."""
    from rich.table import Table
    from rich.text import Text

    names = list(result["space"])
    table = Table("val_acc", *names, "epochs", "state", title=f"study {result['study']} ({result['storage']})")
    for r in result["trials"]:
        cells = [f"{r['val_acc']:.4f}" if r["val_acc"] is not None else "-"]
        cells += [f"{v:.3g}" if isinstance(v := r["params"].get(n), float) else str(v) for n in names]
        cells += [str(r["epochs"]), r["state"] + (f": {r['reason']}" if r["reason"] else "")]
        table.add_row(*(Text(c) for c in cells))
    return table
