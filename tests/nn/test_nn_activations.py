"""Every activation against its formula written out in numpy; PReLU learns; Maxout's parameters."""

import math

import numpy as np
import pytest
import torch

from babysitter.nn.activations import ACTIVATIONS, make_activation
from babysitter.nn.models import build_model
from babysitter.spec import ModelSpec

SELU_L, SELU_A = 1.0507009873554805, 1.6732632423543772


def _elu(x, a):
    return np.where(x > 0, x, a * np.expm1(x))


FORMULAS = {   # x: (N, 2W) grid in float64 -> expected output
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "relu": lambda x: np.maximum(0.0, x),
    "leaky_relu": lambda x: np.maximum(0.01 * x, x),
    "prelu": lambda x: np.where(x > 0, x, 0.25 * x),          # a starts at 0.25
    "elu": lambda x: _elu(x, 1.0),
    "selu": lambda x: SELU_L * _elu(x, SELU_A),
    "maxout": lambda x: x.reshape(len(x), -1, 2).max(axis=2),  # unit c: max(x[2c], x[2c+1])
}

GRID = np.linspace(-6.0, 6.0, 1200).reshape(150, 8)   # 8 columns = 4 units x 2 maxout pieces


def test_every_activation_has_a_formula_here():
    assert set(FORMULAS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_formula(name):
    width = GRID.shape[1] // 2 if name == "maxout" else GRID.shape[1]
    act = make_activation(name, width)
    out = act(torch.tensor(GRID, dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(out, FORMULAS[name](GRID), rtol=1e-5, atol=1e-6)


def test_prelu_slope_is_learned():
    act = make_activation("prelu", 3)
    x = torch.tensor([[-2.0, 1.0, -0.5], [-1.0, -3.0, 2.0]])
    act(x).sum().backward()
    # d/da sum(a x [x < 0]) = sum of the negative inputs, per unit
    expected = np.where(x.numpy() < 0, x.numpy(), 0.0).sum(axis=0)
    np.testing.assert_allclose(act.weight.grad.numpy(), expected, rtol=1e-6)
    before = act.weight.detach().clone()
    torch.optim.SGD(act.parameters(), lr=0.1).step()
    np.testing.assert_allclose(act.weight.detach().numpy(), before.numpy() - 0.1 * expected, rtol=1e-6)
    assert not torch.equal(act.weight.detach(), before)


def test_maxout_mlp_parameter_count_and_output():
    d, h, c = 7, 5, 3
    torch.manual_seed(0)
    model = build_model(ModelSpec(kind="mlp", activation="maxout", hidden=[h], norm="none"), (d,), c)
    assert sum(p.numel() for p in model.parameters()) == d * 2 * h + 2 * h + h * c + c
    sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
    x = np.random.default_rng(0).normal(size=(11, d))
    z = x @ sd["fc1.weight"].T + sd["fc1.bias"]                 # (N, 2H): unit j's pieces at 2j, 2j+1
    hidden = np.maximum(z[:, 0::2], z[:, 1::2])                 # max over the two linear pieces
    expected = hidden @ sd["head.weight"].T + sd["head.bias"]
    out = model(torch.tensor(x, dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert not math.isclose(abs(hidden - np.maximum(z[:, :h], z[:, h:])).max(), 0.0)  # pairing matters
