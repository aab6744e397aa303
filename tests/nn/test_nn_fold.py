"""Batch-norm folding: same eval predictions, no BatchNorm left, W' = s W written out."""

import numpy as np
import pytest
import torch
from torch import nn

from babysitter.nn.fold import fold_batchnorm
from babysitter.nn.models import build_model
from babysitter.spec import ModelSpec

BN = nn.modules.batchnorm._BatchNorm

CASES = {   # name -> (ModelSpec kwargs, sample shape)
    "mlp": (dict(kind="mlp", hidden=[16, 8]), (12,)),
    "mlp-maxout-dropconnect": (dict(kind="mlp", hidden=[8], activation="maxout",
                                    dropout=0.3, dropout_kind="dropconnect"), (12,)),
    "cnn-1d": (dict(kind="cnn", hidden=[8, 16]), (40,)),
    "cnn-2d": (dict(kind="cnn", hidden=[4, 8]), (3, 12, 12)),
    "resnet-1d": (dict(kind="resnet", hidden=[4, 8]), (40,)),
    "resnet-2d": (dict(kind="resnet", hidden=[4, 8], stochastic_depth=0.5), (2, 8, 8)),
}


def _trained_model(kwargs, shape):
    """A norm=batch model whose BN layers have random affine parameters and moved running stats."""
    torch.manual_seed(0)
    model = build_model(ModelSpec(norm="batch", **kwargs), shape, 5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BN):
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-1.0, 1.0)
        model.train()
        for _ in range(3):
            model(torch.randn(64, *shape) * 2 + 0.5)
    return model.eval()


@pytest.mark.parametrize("case", sorted(CASES))
def test_folded_model_predicts_the_same(case):
    model = _trained_model(*CASES[case])
    bns = sum(isinstance(m, BN) for m in model.modules())
    assert bns > 0
    folded = fold_batchnorm(model)
    x = torch.randn(32, *CASES[case][1])
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), atol=1e-5, rtol=0)
    assert not any(isinstance(m, BN) for m in folded.modules())
    assert sum(isinstance(m, BN) for m in model.modules()) == bns   # the original is untouched
    assert not folded.training


def test_folded_weights_are_the_formula():
    model = _trained_model(*CASES["mlp"])
    folded = fold_batchnorm(model)
    fc, bn = model.fc1, model.bn1
    g = lambda t: t.detach().double().numpy()
    s = g(bn.weight) / np.sqrt(g(bn.running_var) + bn.eps)          # s = gamma / sqrt(var + eps)
    np.testing.assert_allclose(g(folded.fc1.weight), s[:, None] * g(fc.weight), rtol=1e-5)
    np.testing.assert_allclose(g(folded.fc1.bias), s * (g(fc.bias) - g(bn.running_mean)) + g(bn.bias),
                               rtol=1e-5, atol=1e-6)
    assert isinstance(folded.bn1, nn.Identity)


def test_model_without_batchnorm_is_copied_unchanged():
    model = build_model(ModelSpec(kind="mlp", hidden=[4], norm="none"), (3,), 2)
    folded = fold_batchnorm(model)
    assert folded is not model
    for a, b in zip(model.parameters(), folded.parameters()):
        assert torch.equal(a, b)
