"""Dropout kinds: test-time output = Monte-Carlo mean of training-time outputs; exact test outputs."""

import numpy as np
import pytest
import torch
from torch import nn

from babysitter.nn.layers import DROPOUTS, ClassicDropout, DropConnectLinear, make_dropout, make_linear

P = 0.3
DRAWS = 4000
SIGMAS = 5.0   # a mean off by more than 5 standard errors anywhere fails


def _mc_check(samples: np.ndarray, test_out: np.ndarray, var: np.ndarray):
    """samples (R, D) of training outputs; their mean must match test_out within SIGMAS std errors."""
    err = np.sqrt(var / len(samples))
    z = np.abs(samples.mean(axis=0) - test_out) / err
    assert z.max() < SIGMAS, z.max()


def test_every_dropout_kind_is_checked_here():
    assert set(DROPOUTS) == {"inverted", "classic", "dropconnect"}


@pytest.mark.parametrize("kind", ["inverted", "classic"])
def test_activation_dropout_test_output_is_training_mean(kind):
    torch.manual_seed(0)
    x = torch.linspace(0.5, 2.0, 50, dtype=torch.float64)
    drop = make_dropout(kind, P)
    train = drop.train()(x.expand(DRAWS, -1)).numpy()   # one independent mask per row
    test = drop.eval()(x).numpy()
    keep, xs = 1 - P, x.numpy()
    # per element: inverted y = x m / keep (var x^2 p / keep); classic y = x m (var x^2 p keep)
    var = xs ** 2 * P / keep if kind == "inverted" else xs ** 2 * P * keep
    _mc_check(train, test, var)
    assert abs((train == 0).mean() - P) < 5 * np.sqrt(P * keep / train.size)


def test_inverted_is_torch_dropout_and_identity_at_test():
    assert DROPOUTS["inverted"] is nn.Dropout
    x = torch.randn(4, 5)
    assert torch.equal(make_dropout("inverted", P).eval()(x), x)


def test_classic_test_output_is_keep_times_x():
    x = torch.randn(64, 33)
    out = ClassicDropout(P).eval()(x)
    np.testing.assert_allclose(out.numpy(), (1 - P) * x.numpy(), rtol=1e-6, atol=0)


def test_dropconnect_test_output_is_expected_weights():
    torch.manual_seed(0)
    layer = DropConnectLinear(20, 7, P).eval()
    x = torch.randn(16, 20)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    expected = x.numpy() @ ((1 - P) * w).T + b
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dropconnect_test_output_is_training_mean():
    torch.manual_seed(0)
    layer = DropConnectLinear(30, 6, P).double()
    x = torch.rand(1, 30, dtype=torch.float64) + 0.5
    with torch.no_grad():
        train = np.concatenate([layer.train()(x).numpy() for _ in range(DRAWS)])  # one mask per call
        test = layer.eval()(x).numpy()[0]
    w = layer.weight.detach().numpy()
    # y_k = b_k + sum_j x_j W_kj M_kj, M ~ Bernoulli(1 - p): var = p (1 - p) sum_j x_j^2 W_kj^2
    var = P * (1 - P) * (x.numpy() ** 2 * w ** 2).sum(axis=1)
    _mc_check(train, test, var)


def test_make_linear_picks_dropconnect():
    assert type(make_linear(3, 2, "dropconnect", P)) is DropConnectLinear
    assert type(make_linear(3, 2, "dropconnect", 0.0)) is nn.Linear
    assert type(make_linear(3, 2, "inverted", P)) is nn.Linear
    assert make_dropout("dropconnect", P) is None and make_dropout("inverted", 0.0) is None


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_bad_probability_is_rejected(p):
    with pytest.raises(ValueError):
        ClassicDropout(p)
    with pytest.raises(ValueError):
        DropConnectLinear(2, 2, p)
