"""The run spec: one YAML file (or dict) that says everything about a run.

A spec is complete with only ``data.source`` given; every other key has the lecture's default
(the fast recipe: batch norm, He init, Nesterov momentum, one-cycle, light shift augmentation).
Unknown keys, unknown names, wrong types and out-of-range values raise :class:`BadInput` with
one line that names the key and lists what is valid.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from babysitter.errors import BadInput


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _known(kind: str, value: str, valid) -> str:
    if value not in valid:
        raise ValueError(f"unknown {kind} '{value}'; valid: {', '.join(valid)}")
    return value


def _in_registry(field: str, kind: str, module: str, registry: str):
    """A validator: ``field`` must name an entry of ``module.registry`` (imported on first use)."""
    def check(cls, v):
        return _known(kind, v, getattr(importlib.import_module(module), registry))
    return field_validator(field)(classmethod(check))


# Light augmentation that the lecture's recipe uses where it is safe for the data.
SOURCE_AUGMENT = {"mnist1d": ["shift:4"]}
# The model kind when the spec names none: a table's columns have no order a convolution could use.
SOURCE_MODEL = {"csv": "mlp"}


class DataSpec(Section):
    source: str
    path: str | None = None
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    preprocess: list[str] = ["standardize"]
    augment: list[str] | None = Field(None, validate_default=True)  # None: the source's default (SOURCE_AUGMENT)
    subset: int | None = Field(None, gt=0)
    options: dict[str, Any] = {}  # source-specific, e.g. spirals: {points: 100, classes: 3}

    _source = _in_registry("source", "data source", "babysitter.data.sources", "SOURCES")

    @field_validator("preprocess")
    @classmethod
    def _preprocess(cls, v):
        from babysitter.data.preprocess import parse_steps

        parse_steps(v)
        return v

    @field_validator("augment")
    @classmethod
    def _augment(cls, v, info):
        from babysitter.data.augment import parse_augment

        if v is None:
            v = list(SOURCE_AUGMENT.get(info.data.get("source"), []))
        parse_augment(v)
        return v


class ModelSpec(Section):
    kind: str = "cnn"
    factory: str | None = None
    hidden: list[int] = [32, 64, 128]
    convs: int = Field(2, gt=0)           # cnn: conv layers per stage
    head: Literal["flatten", "gap"] = "flatten"  # cnn: flatten the last stage, or global average pool
    pool: Literal["max", "fractional"] = "max"   # cnn: 2x max pooling, or fractional max pooling (1/sqrt 2)
    activation: str = "relu"
    init: str = "he"
    init_scale: float | None = Field(None, gt=0.0)
    head_init_scale: float | None = Field(None, gt=0.0)   # the output layer's init weights x this (scores ~0)
    norm: Literal["none", "batch"] = "batch"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    dropout_kind: str = "inverted"
    stochastic_depth: float = Field(0.0, ge=0.0, lt=1.0)
    whiten_first: bool = False            # patch-whitening init of the first conv (nn/init_fit.py)
    dirac: bool = False                   # identity init of the other convs (nn/init_fit.py)

    _kind = _in_registry("kind", "model kind", "babysitter.nn.models", "MODELS")

    _activation = _in_registry("activation", "activation", "babysitter.nn.activations", "ACTIVATIONS")

    _init = _in_registry("init", "init", "babysitter.nn.init", "INITS")

    _dropout_kind = _in_registry("dropout_kind", "dropout kind", "babysitter.nn.layers", "DROPOUTS")

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, v):
        if any(w <= 0 for w in v):
            raise ValueError(f"widths must be positive, got {v}")
        return v


class OptimSpec(Section):
    name: str = "nesterov"
    lr: float = Field(0.2, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0.0)
    norm_lr_scale: float = Field(1.0, gt=0.0)  # lr of batch-norm scales/shifts = lr * this

    _name = _in_registry("name", "optimizer", "babysitter.optim.optimizers", "OPTIMIZERS")


class ScheduleSpec(Section):
    name: str = "onecycle"
    unit: Literal["step", "epoch"] = "step"
    step_size: int = Field(10, gt=0)      # step: decay every step_size units
    gamma: float = Field(0.1, gt=0.0)     # step: multiply by gamma
    k: float = Field(0.1, ge=0.0)         # exponential a0*e^(-kt), inverse_time a0/(1+kt)
    min_lr: float = Field(0.0, ge=0.0)    # cosine floor
    cycle: int = Field(10, gt=0)          # sgdr T_0 / cyclic half-period, in units
    pct_start: float = Field(0.25, gt=0.0, lt=1.0)  # onecycle warm-up fraction

    _name = _in_registry("name", "schedule", "babysitter.optim.schedules", "SCHEDULES")


class RegularizeSpec(Section):
    l1: float = Field(0.0, ge=0.0)
    l2: float = Field(0.0, ge=0.0)
    max_norm: float | None = Field(None, gt=0.0)


class EnsembleSpec(Section):
    """``independent``: ``members`` nets from seeds seed, seed+1, ...; ``snapshot``: one run with a
    cosine schedule restarted ``cycles`` times, a snapshot at each cycle's end; ``polyak``: an
    exponential moving average of the weights, ``decay`` per step. Predictions average softmax."""

    kind: Literal["independent", "snapshot", "polyak"]
    members: int = Field(5, ge=2)
    cycles: int = Field(5, ge=2)
    decay: float = Field(0.999, gt=0.0, lt=1.0)


class TrainSpec(Section):
    epochs: int = Field(20, gt=0)
    batch_size: int = Field(128, gt=0)
    clip_value: float | None = Field(None, gt=0.0)
    clip_norm: float | None = Field(None, gt=0.0)
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    eval_batch_size: int = Field(4096, gt=0)
    ensemble: EnsembleSpec | None = None
    # --nproc N > 1: batch norm over the global batch (SyncBatchNorm); null means true when N > 1
    sync_bn: bool | None = None
    # CPU threads. null: a fixed count (torch's, capped at the CPUs granted), written into the run dir's
    # spec.yaml so a resume keeps it: bitwise reproducible. auto: timed while training (train/threads.py),
    # faster on a shared machine, not bitwise reproducible (a different count sums in a different order)
    threads: Literal["auto"] | Annotated[int, Field(ge=1)] | None = None
    precision: Literal["32", "bf16", "16-mixed", "auto"] = "32"  # train/precision.py
    compile: bool = False                 # torch.compile the model
    ema: float | None = Field(None, gt=0.0, lt=1.0)  # EMA evaluation: weight-average decay per step
    tta: list[str] = []                   # test-time augmentation views: flip, shift:S (data/augment.py)
    channels_last: bool = False           # NHWC layout of 4-D weights and inputs

    @field_validator("tta")
    @classmethod
    def _tta(cls, v):
        from babysitter.data.augment import parse_tta

        parse_tta(v)
        return v

    @field_validator("precision", mode="before")
    @classmethod
    def _precision(cls, v):
        return str(v) if v == 32 else v  # YAML reads `precision: 32` as an int


class DoctorSpec(Section):
    enabled: bool = True
    every: int = Field(25, gt=0)


class LogSpec(Section):
    """``tensorboard``: write TensorBoard event files in ``<run dir>/tb`` (train/log.py)."""

    tensorboard: bool = False


class TransferSpec(Section):
    """Transfer learning (``babysit transfer``): how a pretrained network is reused.

    ``strategy``: linear_probe (frozen backbone + new linear head), finetune_top (the top
    ``top_k`` blocks below the head train too), finetune_all, or auto (the lecture's 2x2 table:
    target examples per class below ``small_per_class`` is "little data"; the target is "similar"
    when the feature-statistics distance to the source's batch-norm statistics is at most
    ``similar_distance``, or -- a model without batch norm -- when a linear probe on the source
    features beats one on randomly initialised copies by at least ``similar_gain``).
    Pretrained layers learn at ``optim.lr * backbone_lr_ratio``; the head at ``optim.lr``.
    ``unfreeze_epoch``: from that epoch on, every block trains.
    ``pretrain``: what ``--pretrain`` does on a source spec: supervised | autoencoder | shift.
    """

    strategy: Literal["linear_probe", "finetune_top", "finetune_all", "auto"] = "auto"
    top_k: int = Field(1, ge=1)
    backbone_lr_ratio: float = Field(0.1, gt=0.0, le=1.0)
    unfreeze_epoch: int | None = Field(None, ge=1)
    freeze: list[str] = []                # named blocks kept frozen whatever the strategy
    small_per_class: int = Field(100, ge=1)
    similar_distance: float = Field(0.2, gt=0.0)
    similar_gain: float = Field(0.05, ge=0.0, le=1.0)
    source_preprocess: bool = True        # apply the source run's fitted preprocess.pt to the target
    pretrain: Literal["supervised", "autoencoder", "shift"] = "supervised"


class RunSpec(Section):
    name: str = "run"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data: DataSpec
    model: ModelSpec = ModelSpec()
    optim: OptimSpec = OptimSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    regularize: RegularizeSpec = RegularizeSpec()
    train: TrainSpec = TrainSpec()
    doctor: DoctorSpec = DoctorSpec()
    transfer: TransferSpec = TransferSpec()
    log: LogSpec = LogSpec()

    @model_validator(mode="after")
    def _model_for_source(self):
        if "kind" not in self.model.model_fields_set and self.data.source in SOURCE_MODEL:
            object.__setattr__(self, "model", self.model.model_copy(update={"kind": SOURCE_MODEL[self.data.source]}))
        return self

    @model_validator(mode="after")
    def _batch_norm_needs_two(self):
        if self.model.norm == "batch" and self.model.kind != "python" and self.train.batch_size < 2:
            raise ValueError("train.batch_size 1 with model.norm: batch — batch statistics need at least 2 "
                             "examples; use batch_size >= 2 or model.norm: none")
        return self

    @model_validator(mode="after")
    def _snapshot_needs_restarts(self):
        """A snapshot ensemble runs on SGDR (cosine with warm restarts), one cycle per snapshot."""
        e = self.train.ensemble
        if e is not None and e.kind == "snapshot":
            if self.train.epochs % e.cycles:
                raise ValueError(f"train.epochs ({self.train.epochs}) must be a multiple of "
                                 f"train.ensemble.cycles ({e.cycles}): one restart cycle per snapshot")
            if self.schedule.name != "sgdr":
                object.__setattr__(self, "schedule", self.schedule.model_copy(update={"name": "sgdr"}))
        return self

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


DEFAULT_SPEC: dict = {"name": "mnist1d-default", "data": {"source": "mnist1d"}}


def _one_line(err: ValidationError) -> str:
    """Turn pydantic's report into 'spec: key.path: what is wrong' (first error only)."""
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    if e["type"] == "extra_forbidden":
        section = _section_at(e["loc"][:-1])
        valid = ", ".join(section.model_fields) if section else "?"
        return f"spec: unknown key '{loc}'; valid keys here: {valid}"
    if e["type"] == "missing":
        return f"spec: missing required key '{loc}'"
    msg = e["msg"].removeprefix("Value error, ")
    if not loc:  # a check across keys: the message names them
        return f"spec: {msg}"
    return f"spec: {loc}: {msg} (got {e.get('input')!r})"


def _section_at(loc) -> type[BaseModel] | None:
    model: type[BaseModel] = RunSpec
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def read_yaml(path: str | Path, kind: str):
    """The YAML document at ``path``; BadInput in one line (with line and column) if absent or broken."""
    from babysitter.files import read_text

    text = read_text(path, kind)  # absent, a directory, not UTF-8: one line naming the file
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BadInput(f"{kind} {path}: broken YAML{where}: {getattr(e, 'problem', e)}") from None


def load_spec(source: str | Path | dict | RunSpec | None = None) -> RunSpec:
    """Read a spec from a YAML path, a dict, or ``None`` (the built-in default recipe)."""
    if isinstance(source, RunSpec):
        return source
    if source is None:
        raw = DEFAULT_SPEC
    elif isinstance(source, dict):
        raw = source
    else:
        raw = read_yaml(source, "spec")
    where = f"spec {source}:" if isinstance(source, (str, Path)) else "spec:"  # a file is named
    if not isinstance(raw, dict):
        raise BadInput(f"{where} expected a mapping of keys (e.g. 'data: {{source: mnist1d}}')")
    try:
        return RunSpec.model_validate(raw)
    except ValidationError as e:
        raise BadInput(_one_line(e).replace("spec:", where, 1)) from None


def override(spec: RunSpec, **dotted: Any) -> RunSpec:
    """A copy of ``spec`` with keys like ``optim.lr=0.01`` replaced (validated again)."""
    raw = spec.to_dict()
    for key, value in dotted.items():
        node = raw
        *parents, leaf = key.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise BadInput(f"spec: unknown key '{key}'")
            node = node[p]
        if leaf not in node:
            raise BadInput(f"spec: unknown key '{key}'")
        node[leaf] = value
    return load_spec(raw)
