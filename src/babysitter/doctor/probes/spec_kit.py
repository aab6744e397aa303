"""The :class:`~babysitter.doctor.probes.kit.Kit` of a spec: :func:`spec_kit` makes a :class:`SpecKit`,
whose copies are built with ``make_model`` and trained with the Trainer's own step (penalty, clipping,
max-norm, closure optimizers), so the kit probes judge the run the spec describes (and the remedies
edit its keys). Also the spec variants the probes train with (:func:`without_regularization`,
:func:`constant_lr`) and :func:`restored` (a probe on the model itself, undone afterwards)."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from babysitter.data import Dataset
from babysitter.data.augment import make_augment
from babysitter.doctor.probes.kit import Kit
from babysitter.optim.optimizers import NEEDS_CLOSURE
from babysitter.spec import RunSpec, override
from babysitter.train.trainer import Trainer

ModelFactory = Callable[[RunSpec], nn.Module]


def without_regularization(spec: RunSpec) -> RunSpec:
    """The spec with every regulariser off and a constant lr that only the probe changes
    (schedule unit ``epoch``: Trainer.train_step then never steps the schedule)."""
    return override(spec, **{
        "regularize.l1": 0.0, "regularize.l2": 0.0, "regularize.max_norm": None,
        "optim.weight_decay": 0.0, "model.dropout": 0.0, "model.stochastic_depth": 0.0,
        "data.augment": [], "train.label_smoothing": 0.0, "train.ensemble": None,
        "schedule.name": "constant", "schedule.unit": "epoch"})


def constant_lr(spec: RunSpec) -> RunSpec:
    """The spec as it trains (regularisation kept), with a constant lr that only the probe changes."""
    return override(spec, **{"train.ensemble": None, "schedule.name": "constant", "schedule.unit": "epoch"})


@contextmanager
def restored(model: nn.Module):
    """Run a probe on ``model``, then restore its parameters and buffers (bit for bit), the
    train/eval mode of every submodule, and torch's CPU RNG."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    with torch.random.fork_rng(devices=[]):
        try:
            yield model
        finally:
            model.load_state_dict(state)
            for m, mode in zip(model.modules(), modes):
                m.training = mode


def draw(data: Dataset, k: int, seed: int) -> torch.Tensor:
    """Indices of ``k`` training examples, a seeded random draw (stored data may be class-sorted)."""
    return torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))[:k]


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


# ---------------------------------------------------------------- the spec's kit
@dataclass
class SpecKit(Kit):
    """A :class:`Kit` made from a spec (:func:`spec_kit`). ``spec``: as written (its lr, optimizer
    and schedule are what the findings judge; the remedies edit its keys); ``trains``: the spec the
    copies train with; ``models[i]``: ``make_model(trains with seed spec.seed + i)``, one per seed.
    :meth:`fresh` copies one and builds the Trainer of ``trains`` on it: the spec's optimizer
    (make_optimizer over norm_groups) and the Trainer's train_step (penalty, clipping, max-norm,
    closure optimizers)."""

    spec: RunSpec | None = None
    trains: RunSpec | None = None
    data: Dataset | None = None
    models: list[nn.Module] = field(default_factory=list)

    LR_KEY = "optim.lr"

    @property
    def lr(self) -> float:
        return self.spec.optim.lr

    @property
    def optimizer_name(self) -> str:
        return self.spec.optim.name

    def fresh(self, lr: float | None = None, seed: int = 0):
        s = self.trains if seed == 0 else override(self.trains, seed=self.trains.seed + seed)
        if lr is not None:
            s = override(s, **{"optim.lr": lr})
        model = copy.deepcopy(self.models[seed])
        torch.manual_seed(s.seed)
        trainer = Trainer(model, self.data, s, progress=False)

        def step(x, y):
            loss, logits = trainer.train_step(x, y)
            return float(loss.detach()), logits.detach()
        return trainer.model, trainer.optimizer, step


def spec_kit(spec: RunSpec, data: Dataset, make_model: ModelFactory, trains: RunSpec,
             idx: torch.Tensor | None = None, seeds: int = 1) -> SpecKit:
    """The kit of ``spec`` whose copies train as ``trains`` says, on the training examples ``idx``
    (None: all of them) as one batch, with plain cross entropy for the probes' own readings. Its
    optimizer is the Trainer's (:meth:`SpecKit.fresh`): ``optimizer_class`` and ``groups`` stay unread."""
    models = [make_model(trains if i == 0 else override(trains, seed=trains.seed + i)) for i in range(seeds)]
    x, y = (data.x_train, data.y_train) if idx is None else (data.x_train[idx], data.y_train[idx])
    device = device_of(models[0])
    return SpecKit(models[0], torch.optim.Optimizer, [], F.cross_entropy, [(x.to(device), y.to(device))],
                   "cross_entropy", data.num_classes, batch_size=spec.train.batch_size, seed=spec.seed,
                   seeds=seeds, onecycle=spec.schedule.name == "onecycle", augment=make_augment(trains.data.augment),
                   closure=spec.optim.name in NEEDS_CLOSURE, spec=spec, trains=trains, data=data, models=models)
