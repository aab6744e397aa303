"""A transfer run, end to end: source weights -> new head -> strategy (or the 2x2 table) ->
per-group learning rates -> the ordinary Trainer -> an ordinary run dir.

final.json (and ``--json``) gains ``transfer``: the strategy, the table's cell, the measured
similarity, the reason, the frozen blocks, the per-group learning rates and where the weights came from.
Everything that can be wrong is checked before the run dir is touched.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from babysitter.data import Dataset, load_data
from babysitter.errors import BadInput
from babysitter.files import lock_dir
from babysitter.nn.models import check_fits
from babysitter.spec import RunSpec, load_spec, override
from babysitter.train.history import TAKEN_NO_RESUME, check_run_dir, write_json
from babysitter.train.run import open_run_dir
from babysitter.train.trainer import Trainer
from babysitter.transfer.freeze import block_names, param_groups, replace_head
from babysitter.transfer.source import read_source, source_model
from babysitter.transfer.strategy import Unfreeze, apply_strategy, choose, similarity


def target_data(spec: RunSpec, preprocess=None) -> Dataset:
    """The target data; with ``preprocess`` (the source's fitted Preprocessor) the raw target
    inputs go through the source's statistics instead of ones fitted on the few target examples."""
    if preprocess is None:
        return load_data(spec.data, spec.seed)
    raw = load_data(spec.data.model_copy(update={"preprocess": []}), spec.seed)
    try:
        xs = [preprocess(x) for x in (raw.x_train, raw.x_val, raw.x_test)]
    except ValueError as e:
        raise BadInput(f"transfer: the source's preprocessing does not fit the target data: {e}") from None
    return Dataset(xs[0], raw.y_train, xs[1], raw.y_val, xs[2], raw.y_test, raw.num_classes, raw.name, preprocess)


def decide(model: nn.Module, data: Dataset, spec: RunSpec) -> dict:
    """The strategy: as given, or ``auto``'s pick from the lecture's table with measured similarity."""
    t = spec.transfer
    if t.strategy != "auto":
        return {"strategy": t.strategy, "cell": None, "reason": "given by transfer.strategy (--strategy)"}
    per_class = int(torch.bincount(data.y_train, minlength=data.num_classes).min())
    measured = similarity(model, data.x_train, data.y_train, seed=spec.seed)
    return choose(per_class, measured, t.small_per_class, t.similar_distance, t.similar_gain)


def transfer(spec, source, out: str | Path | None = None, *, strategy: str | None = None, force: bool = False,
             progress: bool = True, data: Dataset | None = None, callbacks=()) -> dict:
    """Train the target ``spec`` starting from ``source``: a run dir, a checkpoint file, or any
    nn.Module whose last block ends in an nn.Linear head. Returns final.json's content."""
    spec = load_spec(spec)
    if strategy is not None:
        spec = override(spec, **{"transfer.strategy": strategy})
    if spec.train.ensemble is not None:
        raise BadInput("transfer: train.ensemble is not supported with transfer; remove it from the target spec")
    check_run_dir(out, force, TAKEN_NO_RESUME)
    t = spec.transfer
    if isinstance(source, nn.Module):
        data = data if data is not None else load_data(spec.data, spec.seed)
        torch.manual_seed(spec.seed)
        model, where = replace_head(source, data.num_classes), f"module {type(source).__name__}"
    else:
        src = read_source(source, spec)
        if data is None:
            data = target_data(spec, src.preprocess if t.source_preprocess else None)
        model, where = source_model(src, data.sample_shape, data.num_classes, spec.seed), src.description
    check_fits(model, data.x_train, data.num_classes)
    decision = decide(model, data, spec)
    frozen = apply_strategy(model, decision["strategy"], t.top_k, t.freeze)
    groups = param_groups(model, spec.optim.lr, t.backbone_lr_ratio)
    lrs = {g["name"]: g["lr"] for g in groups}
    unfreeze = Unfreeze({t.unfreeze_epoch: "all"}) if t.unfreeze_epoch is not None else None
    trainer = Trainer(model, data, spec, out, callbacks=[*callbacks, *([unfreeze] if unfreeze else [])],
                      progress=progress, param_groups=groups)
    with lock_dir(out) if out is not None else nullcontext():  # one writer until final.json is written
        out = open_run_dir(out, spec, data, force)
        final = trainer.fit()
        final["transfer"] = {**decision, "source": where, "blocks": block_names(model), "frozen": frozen,
                             "lr": lrs,
                             "unfrozen": unfreeze.done if unfreeze else []}
        if out is not None:
            write_json(out / "final.json", final)
    return final
