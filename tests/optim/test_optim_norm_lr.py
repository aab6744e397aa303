"""optim.norm_lr_scale: batch-norm parameters step s times as far as the rest (plain SGD formula)."""

import copy

import torch
import torch.nn.functional as F

from babysitter.spec import load_spec
from babysitter.train.run import build
from babysitter.train.trainer import Trainer

SPEC = {"data": {"source": "digits", "subset": 200}, "model": {"kind": "mlp", "hidden": [16]},
        "optim": {"name": "sgd", "lr": 0.1, "weight_decay": 0.0, "norm_lr_scale": 64.0},
        "schedule": {"name": "constant"}, "regularize": {"l2": 0.0},
        "train": {"label_smoothing": 0.0, "threads": 1}, "doctor": {"enabled": False}}


def test_one_step_moves_norm_params_by_scaled_lr():
    spec = load_spec(SPEC)
    model, data = build(spec)
    before = copy.deepcopy(model)
    x, y = data.x_train[:32], data.y_train[:32]
    # the gradient by plain torch on an independent copy
    F.cross_entropy(before(x), y).backward()
    trainer = Trainer(model, data, spec, progress=False)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.1, 6.4]
    trainer.train_step(x, y)
    for (name, p0), p1 in zip(before.named_parameters(), model.parameters(), strict=True):
        lr = 6.4 if name.startswith("bn") else 0.1
        torch.testing.assert_close(p1, p0 - lr * p0.grad, atol=1e-6, rtol=1e-5)


def test_scale_one_keeps_a_single_group():
    spec = load_spec({**SPEC, "optim": {**SPEC["optim"], "norm_lr_scale": 1.0}})
    model, data = build(spec)
    assert len(Trainer(model, data, spec, progress=False).optimizer.param_groups) == 1
