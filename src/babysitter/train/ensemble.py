"""Model ensembles (CS231n, Neural Networks 3: "Model Ensembles"). Predictions average softmax:

    p(y | x) = 1/M sum_m softmax(f_m(x))

independent  M nets trained from different seeds (seed, seed+1, ...), same data split
snapshot     one run on cosine annealing with warm restarts (SGDR); the weights at the end of
             each of the ``cycles`` cycles are the members (Huang et al. 2017, "Snapshot Ensembles").
             Early snapshots of a short run are weak, so, as the paper ensembles "the last m", the
             ensemble averages the last m snapshots with m chosen on the validation split.
polyak       an exponential moving average of the weights, w_ema <- d w_ema + (1-d) w after every
             step (torch.optim.swa_utils), batch-norm statistics recomputed for the averaged weights
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from babysitter.train.events import Callback


class Snapshot(Callback):
    """Keep a copy of the weights every ``epochs // cycles`` epochs (the end of each SGDR cycle)."""

    def __init__(self, cycles: int, epochs: int):
        self.cycles, self.every = cycles, epochs // cycles
        self.snapshots: list[dict] = []

    def after_epoch(self, trainer):
        if trainer.epoch % self.every == 0 and len(self.snapshots) < self.cycles:
            self.snapshots.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})

    def members(self, trainer, data) -> list[tuple[str, nn.Module]]:
        out = []
        for i, state in enumerate(self.snapshots, 1):
            m = copy.deepcopy(trainer.model)
            m.load_state_dict(state)
            out.append((f"snapshot {i} (epoch {i * self.every})", m))
        return out

    def state_dict(self) -> dict:
        return {"snapshots": self.snapshots}

    def load_state_dict(self, state: dict) -> None:
        self.snapshots = state["snapshots"]


class Polyak(Callback):
    """Polyak / EMA averaging of the weights after every optimizer step."""

    def __init__(self, decay: float):
        self.decay, self.ema, self.saved = decay, None, None

    def before_fit(self, trainer):
        self.ema = AveragedModel(trainer.model, multi_avg_fn=get_ema_multi_avg_fn(self.decay))
        if self.saved is not None:  # resumed: continue the average where the checkpoint left it
            self.ema.load_state_dict(self.saved)

    def after_step(self, trainer):
        self.ema.update_parameters(trainer.model)

    def members(self, trainer, data) -> list[tuple[str, nn.Module]]:
        ema = self.ema.module
        bs = trainer.spec.train.batch_size
        x = data.x_train.to(trainer.device)
        update_bn([x[i:i + bs] for i in range(0, len(x), bs)], ema)  # BN statistics for the averaged weights
        return [(f"polyak (decay {self.decay})", ema)]  # the averaged weights are the ensemble

    def state_dict(self) -> dict:
        return {"ema": self.ema.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.saved = state["ema"]


def snapshot_schedule(spec, steps_per_epoch: int):
    """The schedule spec of a snapshot ensemble: SGDR restarted every ``epochs / cycles`` epochs."""
    e, s = spec.train.ensemble, spec.schedule
    if e is None or e.kind != "snapshot":
        return s
    per_unit = steps_per_epoch if s.unit == "step" else 1
    return s.model_copy(update={"name": "sgdr", "cycle": spec.train.epochs // e.cycles * per_unit})


def callbacks_for(spec) -> list[Callback]:
    """The callbacks a spec's ``train.ensemble`` needs inside one run (none for independent)."""
    e = spec.train.ensemble
    if e is None or e.kind == "independent":
        return []
    return [Snapshot(e.cycles, spec.train.epochs)] if e.kind == "snapshot" else [Polyak(e.decay)]


@torch.inference_mode()
def average_softmax(models: list[nn.Module], x: torch.Tensor, device, batch_size: int = 4096) -> torch.Tensor:
    """``(N, C)`` mean of the members' softmax outputs on ``x: (N, ...)``, members in eval mode."""
    total = None
    for m in models:
        was_training = m.training
        m.eval()
        probs = torch.cat([torch.softmax(m(x[i:i + batch_size].to(device)), 1) for i in range(0, len(x), batch_size)])
        m.train(was_training)
        total = probs if total is None else total + probs
    return total / len(models)


def last_m_on_validation(models: list[nn.Module], data, device) -> int:
    """The m for which the averaged softmax of the last m models is most accurate on the
    validation split (ties go to the larger m; all of them when there is no validation split)."""
    if len(data.x_val) == 0:
        return len(models)
    y = data.y_val.to(device)
    probs = [average_softmax([m], data.x_val, device) for m in models]
    accs = [(sum(probs[-m:]).argmax(1) == y).float().mean().item() for m in range(1, len(models) + 1)]
    return max(range(1, len(models) + 1), key=lambda m: (accs[m - 1], m))


def ensemble_report(members: list[tuple[str, nn.Module]], data, device, last_m: int | None = None) -> dict:
    """Each member's test accuracy and the ensemble's (averaged softmax over the last ``last_m``
    members, default all), for final.json."""
    y = data.y_test.to(device)
    rows = [{"name": name, "test_acc": (average_softmax([m], data.x_test, device).argmax(1) == y).float().mean().item()}
            for name, m in members]
    used = members[-(last_m or len(members)):]
    probs = average_softmax([m for _, m in used], data.x_test, device)
    nll = -torch.log(probs[torch.arange(len(y)), y].clamp_min(1e-12)).mean().item()
    return {"members": rows, "ensemble_members_used": [name for name, _ in used],
            "ensemble_test_acc": (probs.argmax(1) == y).float().mean().item(), "ensemble_test_loss": nll}


class EMA(Callback):
    """EMA evaluation (``train.ema: d``): Polyak averaging of the weights *and* batch-norm
    statistics after every step, and validation, best.pt and the test on the average:

        e_1 = w_1,    e_t = d e_(t-1) + (1 - d) w_t        (w_t: the weights after step t)

    (``AveragedModel(use_buffers=True)`` with torch's EMA update). Unlike ``ensemble: polyak``
    the running BN statistics are averaged alongside rather than recomputed at the end, so every
    epoch's validation can use the average (airbench: EMA cut CIFAR-10 epochs 13.5 -> 12)."""

    def __init__(self, decay: float):
        self.decay, self.ema, self.saved = decay, None, None

    def before_fit(self, trainer):
        if self.ema is None:
            self.ema = AveragedModel(trainer.model, multi_avg_fn=get_ema_multi_avg_fn(self.decay), use_buffers=True)
        if self.saved is not None:  # resumed: continue the average where the checkpoint left it
            self.ema.load_state_dict(self.saved)
        trainer.eval_model = self.ema.module

    def after_step(self, trainer):
        self.ema.update_parameters(trainer.model)

    def state_dict(self) -> dict:
        return {"ema": self.ema.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.saved = state["ema"]
