"""Freezing by depth, head replacement, per-group learning rates and gradual unfreezing, measured
on real training steps (digits, a tiny CNN)."""

import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from babysitter.errors import BadInput
from babysitter.spec import load_spec
from babysitter.train.events import Callback
from babysitter.train.run import build
from babysitter.train.trainer import Trainer
from babysitter.transfer import Unfreeze, apply_strategy, block_names, freeze_first, frozen_blocks, param_groups, replace_head


def _spec(**train):
    return load_spec({"data": {"source": "digits", "subset": 256}, "model": {"hidden": [4, 8], "convs": 1},
                      "schedule": {"name": "constant"}, "train": {"epochs": 1, "batch_size": 64, **train}})


def test_blocks_are_the_weighted_layers_with_their_batch_norm():
    model, _ = build(_spec())
    assert block_names(model) == ["conv1", "conv2", "head"]
    wrapped = nn.Sequential(OrderedDict(net=model))  # a single wrapper is looked through
    assert block_names(wrapped) == ["net.conv1", "net.conv2", "net.head"]


def test_frozen_blocks_stay_bit_identical_while_the_head_trains():
    spec = _spec(epochs=2)
    model, data = build(spec)
    replace_head(model, data.num_classes)
    assert freeze_first(model, 2) == ["conv1", "conv2"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(model, data, spec, progress=False, param_groups=param_groups(model, spec.optim.lr)).fit()
    after = model.state_dict()
    for key in before:
        if key.startswith(("conv", "bn")):  # weights AND batch-norm running statistics
            assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert frozen_blocks(model) == ["conv1", "conv2"]


def test_head_replacement_gives_c_outputs_on_any_module():
    class Net(nn.Module):  # a torchvision-like layout: conv1, bn1, relu, pool, fc
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3)
            self.relu, self.pool = nn.ReLU(), nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Sequential(nn.Dropout(0.1), nn.Linear(3, 10))

        def forward(self, x):
            return self.fc(self.pool(self.relu(self.bn1(self.conv1(x)))).flatten(1))

    net = Net()
    assert block_names(net) == ["conv1", "fc"]
    conv_before = net.conv1.weight.clone()
    replace_head(net, 4)
    assert net(torch.randn(5, 1, 8, 8)).shape == (5, 4)
    assert net.fc[1].in_features == 3 and torch.equal(net.conv1.weight, conv_before)


@pytest.mark.parametrize("schedule", ["constant", "onecycle", "cosine"])
def test_group_learning_rates_are_lr_and_lr_times_ratio_through_the_schedule(schedule):
    spec = load_spec({"data": {"source": "digits", "subset": 256}, "model": {"hidden": [4], "convs": 1},
                      "optim": {"lr": 0.05}, "schedule": {"name": schedule}, "train": {"epochs": 3, "batch_size": 64}})
    model, data = build(spec)
    trainer = Trainer(model, data, spec, progress=False, param_groups=param_groups(model, 0.05, backbone_lr_ratio=0.1))
    head, backbone = trainer.optimizer.param_groups
    assert {p.data_ptr() for p in head["params"]} == {model.head.weight.data_ptr(), model.head.bias.data_ptr()}
    if schedule == "constant":
        assert head["lr"] == 0.05 and math.isclose(backbone["lr"], 0.005)
    if schedule == "onecycle":  # torch's OneCycleLR starts at max_lr / 25
        assert math.isclose(head["lr"], 0.05 / 25) and math.isclose(backbone["lr"], 0.005 / 25)
    for _ in range(5):
        trainer.train_step(data.x_train[:64], data.y_train[:64])
        assert math.isclose(backbone["lr"] / head["lr"], 0.1, rel_tol=1e-9)


def test_unfreezing_flips_at_the_given_epoch():
    spec = _spec(epochs=3)
    model, data = build(spec)
    apply_strategy(model, "linear_probe")
    seen = []

    class Watch(Callback):
        def after_epoch(self, trainer):
            seen.append((trainer.epoch, model.conv1.weight.requires_grad, model.conv1.weight.detach().clone()))

    start = model.conv1.weight.detach().clone()
    unfreeze = Unfreeze({2: "all"})
    Trainer(model, data, spec, progress=False, callbacks=[unfreeze, Watch()],
            param_groups=param_groups(model, spec.optim.lr)).fit()
    assert [(e, g) for e, g, _ in seen] == [(1, False), (2, True), (3, True)]
    assert torch.equal(seen[0][2], start) and not torch.equal(seen[1][2], start)
    assert unfreeze.done == [(2, ["conv1", "conv2", "head"])]


def test_strategies_freeze_by_depth():
    spec = load_spec({"data": {"source": "digits"}, "model": {"hidden": [4, 4, 4], "convs": 1}})
    expect = {"linear_probe": ["conv1", "conv2", "conv3"], "finetune_top": ["conv1", "conv2"], "finetune_all": []}
    for strategy, frozen in expect.items():
        model, _ = build(spec)
        assert apply_strategy(model, strategy, top_k=1) == frozen
        assert frozen_blocks(model) == frozen


def test_everything_frozen_is_bad_input():
    model, _ = build(_spec())
    apply_strategy(model, "linear_probe", freeze=["head"])
    with pytest.raises(BadInput, match="every block is frozen"):
        param_groups(model, 0.1)
    with pytest.raises(BadInput, match="unknown block.*conv1, conv2, head"):
        apply_strategy(model, "finetune_all", freeze=["layer9"])
