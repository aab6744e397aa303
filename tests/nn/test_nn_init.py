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


def test_head_init_scale_scales_only_the_output_layer_and_brings_the_init_loss_to_ln_c():
    """model.head_init_scale: the output layer's weights x s, the rest as built without it; on real
    data (sklearn's digits, 10 classes) a He-initialised MLP starts above ln 10 and s = 0.01 starts
    within 0.01 of it (scores ~0: softmax ~uniform)."""
    from sklearn.datasets import load_digits

    from babysitter.nn.models import build_model
    from babysitter.spec import load_spec

    x, y = load_digits(return_X_y=True)
    x = torch.tensor((x - x.mean(0)) / (x.std(0) + 1e-8), dtype=torch.float32)
    y = torch.tensor(y)
    losses = {}
    for scale in (None, 0.01):
        spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [64, 64], "norm": "none",
                                                                  "head_init_scale": scale}})
        torch.manual_seed(0)
        model = build_model(spec.model, x.shape[1:], 10)
        layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if scale is None:
            plain = [m.weight.detach().clone() for m in layers]
        else:
            for m, w in zip(layers[:-1], plain[:-1]):
                assert torch.equal(m.weight, w)
            assert torch.allclose(layers[-1].weight, plain[-1] * scale, rtol=1e-6, atol=0)
        with torch.no_grad():
            losses[scale] = float(nn.functional.cross_entropy(model.eval()(x), y))
    assert losses[None] - math.log(10) > 0.1
    assert abs(losses[0.01] - math.log(10)) < 0.01
