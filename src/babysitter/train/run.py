"""A training run from a spec, end to end: spec -> data -> model -> trainer -> run dir.

Everything that can be wrong with the input is checked before the run dir is touched, so a bad
spec, missing data or a model that does not fit the data leaves an existing dir as it was.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from babysitter import files
from babysitter.data import Dataset, from_arrays, load_data
from babysitter.data.augment import TestTimeAugment, make_augment
from babysitter.errors import BadInput
from babysitter.nn.init_fit import patch_whitening_
from babysitter.nn.models import build_model, check_fits
from babysitter.optim.optimizers import make_optimizer
from babysitter.spec import RunSpec, load_spec, override
from babysitter.train.checkpoint import save_atomic
from babysitter.train.ensemble import Snapshot, callbacks_for, ensemble_report, last_m_on_validation
from babysitter.train.history import check_run_dir, prepare_run_dir, write_json, write_spec
from babysitter.train.trainer import Trainer


def build(spec: RunSpec, model: nn.Module | None = None, data=None) -> tuple[nn.Module, Dataset]:
    """The data and the (seeded, initialised) model a spec describes.

    ``data``: a Dataset used as is, or arrays/tensors ``(x_train, y_train, x_test, y_test)`` that go
    through the spec's validation split and preprocessing; None loads ``spec.data.source``.
    ``model``: any nn.Module mapping ``(N, *sample_shape)`` to ``(N, C)`` logits; None builds the spec's.
    """
    if data is None:
        data = load_data(spec.data, spec.seed)
    elif not isinstance(data, Dataset):
        data = from_arrays(*data, spec=spec.data, seed=spec.seed)
    torch.manual_seed(spec.seed)
    if model is None:
        model = build_model(spec.model, data.sample_shape, data.num_classes)
    check_fits(model, data.x_train, data.num_classes)
    if spec.model.whiten_first:  # fitted on training patches only
        patch_whitening_(model, data.x_train)
    make_optimizer([p for p in model.parameters() if p.requires_grad], spec.optim)  # refusals show now
    augment = make_augment(spec.data.augment)
    if augment is not None:
        augment(data.x_train[:2], torch.Generator())  # a shape error shows now, not on the first batch
    if spec.train.tta:
        TestTimeAugment(spec.train.tta).views(data.x_train[:2])  # flip on sequences: refused now, not at the end
    return model, data


def train(spec=None, out: str | Path | None = None, *, model: nn.Module | None = None, data=None,
          force: bool = False, progress: bool = True, callbacks=()) -> dict:
    """Train as ``spec`` says; ``babysitter.fit``. Returns final.json's content (``test_loss``,
    ``test_acc``, ...).

    Args:
        spec: a YAML path, a dict, a :class:`~babysitter.spec.RunSpec`, or None for the built-in
            default recipe (MNIST-1D); docs/spec.md lists every key and its default.
        out: the run dir to create (spec.yaml, metrics.jsonl, final.json, checkpoints/, plots);
            None writes nothing.
        model: any ``nn.Module`` mapping ``(N, *sample_shape)`` inputs to ``(N, C)`` logits, used
            instead of the spec's ``model`` section (its own initialisation is kept).
        data: a Dataset, or arrays/tensors ``(x_train, y_train, x_test, y_test)`` (``x: (N, ...)``,
            ``y: (N,)`` int class ids); the spec may then leave out ``data`` (only its preprocessing,
            validation fraction and augmentation apply to the given arrays). None: ``spec.data.source``.
        force: replace an existing run dir of ours at ``out`` (never ``.``, a parent, or a folder
            holding anything else).
        progress: show the progress bar (one plain line per epoch in a notebook).
        callbacks: extra instruments/callbacks with the trainer's event hooks
            (:mod:`babysitter.train.events`).
    """
    if data is not None and (spec is None or isinstance(spec, dict) and "data" not in spec):
        spec = {**(spec or {}), "data": {"source": "npz"}}
    spec = fixed_thread_count(load_spec(spec))
    check_run_dir(out, force)
    model, data = build(spec, model, data)
    with files.lock_dir(out) if out is not None else nullcontext():  # one writer until final.json is written
        out = open_run_dir(out, spec, data, force)
        return _fit(spec, model, data, out, progress, callbacks, resume=False)


def fixed_thread_count(spec: RunSpec, share: int = 1) -> RunSpec:
    """``spec`` with the default ``train.threads`` (null) resolved to the count this run trains on
    (:func:`~babysitter.train.trainer.fixed_threads`), so the run dir's spec.yaml records it and a
    resume on this machine continues at it: bitwise the run it continues."""
    if spec.train.threads is not None:
        return spec
    from babysitter.train.trainer import fixed_threads

    return override(spec, **{"train.threads": fixed_threads(share)})


def open_run_dir(out: str | Path | None, spec: RunSpec, data: Dataset, force: bool = False) -> Path | None:
    """Create the run dir ``out`` (None: nothing) with the resolved ``spec.yaml``, the fitted
    ``preprocess.pt`` and ``data.json`` (the raw input: ``source``, ``input_shape``, ``num_classes``
    and the source's meta, e.g. ``class_names``) -- what resume, transfer, the report and
    ``babysitter.load`` read back."""
    if out is None:
        return None
    out = prepare_run_dir(out, force=force)
    write_spec(out / "spec.yaml", spec.to_dict())
    if data.preprocess is not None:
        save_atomic(data.preprocess.state_dict(), out / "preprocess.pt")
    raw_shape = data.preprocess.in_shape if data.preprocess is not None else list(data.sample_shape)
    write_json(out / "data.json", {"source": spec.data.source, "input_shape": [int(n) for n in raw_shape],
                                   "num_classes": data.num_classes, **data.meta})
    return out


def resume(out: str | Path, *, progress: bool = True, callbacks=(), model: nn.Module | None = None,
           changes: dict | None = None) -> dict:
    """Continue a killed run from its last checkpoint(s) with the spec saved in ``out``.

    ``changes``: spec keys to change on the way (``{"train.epochs": 40}``): only :data:`RESUMABLE`
    keys, checked by :func:`resume_spec`; the changed spec is saved to ``out/spec.yaml``. The run
    dir is locked for the whole run (a second process on it is BadInput "in use by pid N")."""
    out = Path(out)
    saved_spec(out)  # nothing to resume: the one-line error before the lock is taken
    with files.lock_dir(out):
        files.clean_stray_tmp(out)  # temp files of a write the kill cut short
        spec = saved_spec(out, changes)
        model, data = build(spec, model)
        if changes:
            write_spec(out / "spec.yaml", spec.to_dict())
        return _fit(spec, model, data, out, progress, callbacks, resume=True)


def saved_spec(out: str | Path, changes: dict | None = None) -> RunSpec:
    """The spec of the run to resume in ``out`` (with the :data:`RESUMABLE` ``changes`` applied);
    BadInput if there is nothing to resume."""
    out = Path(out)
    if not (out / "spec.yaml").is_file():
        raise BadInput(f"nothing to resume in {out}: no spec.yaml there (start it with 'babysit train SPEC --out {out}')")
    spec = resume_spec(out, load_spec(out / "spec.yaml"), changes or {})
    independent = spec.train.ensemble is not None and spec.train.ensemble.kind == "independent"
    if not independent and not (out / "checkpoints" / "last.pt").is_file():
        raise BadInput(f"nothing to resume in {out}: no checkpoints/last.pt (the run stopped before its first epoch ended)")
    return spec


# Keys a resumed run may change: more (or as many) epochs. The schedule's horizon is part of the
# checkpoint, so a schedule that spans the run (onecycle, cosine...) refuses a new length.
RESUMABLE = ("train.epochs",)
FIXED_HORIZON = ("constant", "step", "exponential", "inverse_time", "sgdr", "cyclic")


def resume_spec(out: Path, spec: RunSpec, changes: dict) -> RunSpec:
    """``spec`` with ``changes`` applied, or BadInput in one line saying why a key cannot change."""
    for key in changes:
        if key not in RESUMABLE:
            raise BadInput(f"--set {key}: a resumed run keeps its spec (only {', '.join(RESUMABLE)} can change); "
                           f"start a new run with 'babysit train SPEC --out NEW_DIR' to change it")
    if not changes:
        return spec
    new = override(spec, **changes)
    if "train.epochs" in changes and new.train.epochs != spec.train.epochs:
        done = len(files.read_jsonl(out / "metrics.jsonl", "metrics")) if (out / "metrics.jsonl").is_file() else 0
        if new.train.epochs < done:
            raise BadInput(f"--set train.epochs={new.train.epochs}: the run in {out} has already trained {done} epochs")
        if spec.schedule.name not in FIXED_HORIZON or spec.train.ensemble is not None:
            raise BadInput(f"--set train.epochs: schedule '{spec.schedule.name}'"
                           f"{' with an ensemble' if spec.train.ensemble is not None else ''} is laid out over "
                           f"{spec.train.epochs} epochs and cannot be stretched on resume; start a new run instead")
    return new


def _fit(spec, model, data, out, progress, callbacks, resume: bool) -> dict:
    """Train one model (with a snapshot/polyak ensemble's callbacks) or an independent ensemble."""
    e = spec.train.ensemble
    if e is not None and e.kind == "independent":
        return _fit_independent(spec, model, data, out, progress, resume)
    extra = callbacks_for(spec)
    from babysitter.train.tensorboard import tensorboard_log

    logs = tensorboard_log(spec, out)  # after the instruments: it reads what they recorded
    trainer = Trainer(model, data, spec, out, callbacks=[*callbacks, *extra, *logs], progress=progress)
    final = trainer.fit(resume=resume)
    for cb in extra:
        members = cb.members(trainer, data)
        last_m = last_m_on_validation([m for _, m in members], data, trainer.device) if isinstance(cb, Snapshot) else None
        final.update(ensemble_report(members, data, trainer.device, last_m))
    if extra and out is not None:
        write_json(out / "final.json", final)
    return final


def _fit_independent(spec, model, data, out, progress, resume: bool) -> dict:
    """M members from seeds seed .. seed+M-1 on the same data split, each in ``out/members/<m>``;
    final.json reports each member's test accuracy and the averaged-softmax ensemble's."""
    members, finals = [], []
    for m in range(1, spec.train.ensemble.members + 1):
        mspec = override(spec, **{"seed": spec.seed + m - 1, "train.ensemble": None})
        mdir = out / "members" / str(m) if out is not None else None
        last = mdir is not None and (mdir / "checkpoints" / "last.pt").is_file()
        if not (resume and last):
            mmodel, _ = build(mspec, model if m == 1 else None, data)
            if mdir is not None:
                prepare_run_dir(mdir, force=True, lock=False)  # inside the locked run dir
        else:
            mmodel, _ = build(mspec, None, data)
        trainer = Trainer(mmodel, data, mspec, mdir, progress=progress)
        trainer.resume_dir = out
        finals.append(trainer.fit(resume=resume and last))
        members.append((f"member {m} (seed {mspec.seed})", trainer.model))
    report = ensemble_report(members, data, trainer.device)
    final = {"test_acc": report["ensemble_test_acc"], "test_loss": report["ensemble_test_loss"], **report,
             "epochs": spec.train.epochs, "steps": sum(f["steps"] for f in finals),
             "train_seconds": sum(f["train_seconds"] for f in finals), "device": str(trainer.device), "failed": None}
    if out is not None:
        write_json(out / "final.json", final)
    return final
