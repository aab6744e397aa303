"""Each initialisation's sample std against the formula, with fans computed from the shapes."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from babysitter.nn.init import INITS, initialize


def _fans(layer):
    """fan_in = inputs x kernel area, fan_out = outputs x kernel area (written out, not torch's)."""
    out_ch, in_ch, *kernel = layer.weight.shape
    area = math.prod(kernel)
    return in_ch * area, out_ch * area


STD = {   # fan_in, fan_out -> std
    "zeros": lambda fi, fo: 0.0,
    "small": lambda fi, fo: 0.01,
    "normal": lambda fi, fo: 1.0,
    "xavier": lambda fi, fo: math.sqrt(2.0 / (fi + fo)),
    "xavier_uniform": lambda fi, fo: math.sqrt(6.0 / (fi + fo)) / math.sqrt(3.0),
    "he": lambda fi, fo: math.sqrt(2.0 / fi),
    "lecun": lambda fi, fo: math.sqrt(1.0 / fi),
}

LAYERS = {"linear": lambda: nn.Linear(600, 400), "conv2d": lambda: nn.Conv2d(32, 64, 5)}


def test_every_init_has_a_formula_here():
    assert set(STD) == set(INITS)


@pytest.mark.parametrize("layer_name", sorted(LAYERS))
@pytest.mark.parametrize("name", sorted(INITS))
def test_init_std_matches_formula(name, layer_name):
    torch.manual_seed(0)
    layer = LAYERS[layer_name]()
    nn.init.ones_(layer.bias)
    initialize(layer, name)
    w = layer.weight.detach().double().numpy()
    fi, fo = _fans(layer)
    expected = STD[name](fi, fo)
    if expected == 0.0:
        assert not w.any()
    else:
        assert abs(w.std() - expected) < 0.03 * expected, (w.std(), expected)
        assert abs(w.mean()) < 5 * expected / math.sqrt(w.size)
    assert not layer.bias.detach().any()
    if name == "xavier_uniform":
        bound = math.sqrt(6.0 / (fi + fo))
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize("name", ["small", "normal"])
def test_init_scale_overrides_the_std(name):
    torch.manual_seed(0)
    layer = initialize(nn.Linear(600, 400), name, scale=0.3)
    assert abs(layer.weight.detach().std().item() - 0.3) < 0.03 * 0.3
