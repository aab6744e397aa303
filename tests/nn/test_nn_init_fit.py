"""Patch whitening of the first conv and dirac init, against numpy and the identity."""

import numpy as np
import torch
import torch.nn.functional as F

from babysitter.nn.init_fit import convs, patch_whitening_
from babysitter.spec import load_spec
from babysitter.train.run import build

SPEC = {"data": {"source": "digits", "preprocess": ["standardize"]},
        "model": {"kind": "cnn", "hidden": [32, 16], "convs": 1, "whiten_first": True, "dirac": True}}


def test_whitened_first_conv_outputs_have_identity_covariance_on_training_patches():
    model, data = build(load_spec(SPEC))
    conv = model.conv1                                             # 1 channel, 3x3: d = 9, n = 9
    x = data.x_train.numpy()                                       # (N, 1, 8, 8)
    with torch.no_grad():
        out = F.conv2d(data.x_train, conv.weight, conv.bias).numpy()   # valid positions only
    # numpy: the same 9-dim patches gathered by hand, their covariance and mean
    pats = np.stack([x[:, 0, i:i + 6, j:j + 6] for i in range(3) for j in range(3)], -1).reshape(-1, 9)
    lam = np.linalg.eigvalsh(np.cov(pats.T))[::-1]
    y = out[:, :9].transpose(0, 2, 3, 1).reshape(-1, 9)           # the +W half
    cov = np.cov(y.T)
    np.testing.assert_allclose(cov, np.diag(lam / (lam + 5e-4)), atol=1e-3)
    assert np.abs(y.mean(0)).max() < 1e-3                           # centred by the bias
    np.testing.assert_allclose(out[:, 9:18], -out[:, :9], atol=1e-5)  # the negated copy


def test_whitening_fits_1d_sequences_too():
    model, data = build(load_spec({"data": {"source": "mnist1d", "subset": 600},
                                   "model": {"kind": "cnn", "hidden": [16], "whiten_first": True}}))
    conv = convs(model)[0]                                          # Conv1d(1, 16, 3): n = 3
    with torch.no_grad():
        out = F.conv1d(data.x_train[:, None], conv.weight, conv.bias)[:, :3]
    cov = np.cov(out.permute(0, 2, 1).reshape(-1, 3).numpy().T)
    np.testing.assert_allclose(cov, np.eye(3), atol=2e-2)


def test_dirac_convs_pass_their_input_through():
    model, _ = build(load_spec(SPEC))
    conv = model.conv2                                              # Conv2d(32, 16, 3, padding=1)
    x = torch.randn(4, 32, 5, 5)
    with torch.no_grad():
        y = conv(x)
    torch.testing.assert_close(y, x[:, :16], atol=1e-6, rtol=0)   # first min(32, 16) channels
    plain, _ = build(load_spec({**SPEC, "model": {**SPEC["model"], "dirac": False}}))
    assert not torch.equal(plain.conv2.weight, conv.weight)


def test_whitening_refuses_a_model_without_convs():
    import pytest

    from babysitter.errors import BadInput
    with pytest.raises(BadInput, match="whiten_first"):
        patch_whitening_(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)), torch.zeros(3, 4))
