"""Stochastic depth: the linear decay rule, drop frequency, and the train/test outputs of a block."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.nn.models import ResidualBlock, build_model, survival_probabilities
from babysitter.spec import ModelSpec

SPEC = ModelSpec(kind="resnet", hidden=[4, 6], norm="none", activation="relu")


def test_survival_probabilities_decay_linearly():
    for blocks, last_drop in [(4, 0.5), (6, 0.2), (3, 0.0)]:
        l = np.arange(1, blocks + 1)
        p_last = 1 - last_drop
        np.testing.assert_allclose(survival_probabilities(blocks, last_drop), 1 - l / blocks * (1 - p_last))


def test_resnet_blocks_get_the_decayed_probabilities():
    model = build_model(SPEC.model_copy(update={"stochastic_depth": 0.5}), (16,), 3)
    got = [m.survival for m in model.modules() if isinstance(m, ResidualBlock)]
    np.testing.assert_allclose(got, [0.875, 0.75, 0.625, 0.5])   # 1 - l/4 * 0.5


def _block(survival):
    torch.manual_seed(0)
    # 4 -> 6 channels with stride 2: the shortcut is a 1x1 conv, so act(shortcut(x)) != act(x)
    return ResidualBlock(nn.Conv1d, nn.BatchNorm1d, 4, 6, 2, SPEC, survival)


def _by_hand(block, x):
    """(act(shortcut(x)), branch(x)) with torch.nn.functional, from the block's weights."""
    b, s = block.branch, block.shortcut[0]
    short = F.conv1d(x, s.weight, s.bias, stride=2)
    branch = F.conv1d(F.relu(F.conv1d(x, b.conv1.weight, b.conv1.bias, stride=2, padding=1)),
                      b.conv2.weight, b.conv2.bias, padding=1)
    return short, branch


def test_dropped_block_is_act_of_shortcut_and_kept_block_adds_branch():
    x = torch.randn(3, 4, 10)
    with torch.no_grad():
        short, branch = _by_hand(_block(1.0), x)
        torch.testing.assert_close(_block(0.0).train()(x), F.relu(short))            # always dropped
        torch.testing.assert_close(_block(1.0).train()(x), F.relu(short + branch))   # never dropped


def test_block_is_dropped_with_frequency_one_minus_survival():
    p, draws = 0.7, 2000
    block = _block(p).train()
    x = torch.randn(2, 4, 8)
    with torch.no_grad():
        dropped_out = F.relu(_by_hand(block, x)[0])
        dropped = sum(torch.allclose(block(x), dropped_out) for _ in range(draws))
    assert abs(dropped / draws - (1 - p)) < 4 * np.sqrt(p * (1 - p) / draws)


def test_eval_scales_the_branch_by_survival():
    p = 0.6
    block = _block(p).eval()
    x = torch.randn(3, 4, 10)
    with torch.no_grad():
        short, branch = _by_hand(block, x)
        torch.testing.assert_close(block(x), F.relu(short + p * branch))
        assert not torch.allclose(block(x), F.relu(short + branch))
