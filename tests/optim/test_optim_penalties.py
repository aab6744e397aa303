"""Penalties against numpy sums; max-norm; clipping by norm keeps the gradient's direction."""

import numpy as np
import pytest
import torch
from torch import nn

from babysitter.nn.models import build_model
from babysitter.optim.penalties import Penalty, apply_max_norm, penalized_weights
from babysitter.spec import ModelSpec


def _model():
    torch.manual_seed(0)
    return build_model(ModelSpec(kind="mlp", hidden=[6, 5], norm="batch"), (4,), 3)


def _weights_by_name(model):
    """The Linear weights, picked by name from the state dict (not by penalized_weights)."""
    return [v.double().numpy() for k, v in model.state_dict().items() if k in ("fc1.weight", "fc2.weight", "head.weight")]


@pytest.mark.parametrize("l1,l2", [(0.0, 0.3), (0.2, 0.0), (0.2, 0.3)])   # L2, L1, elastic net
def test_penalty_is_the_numpy_sum(l1, l2):
    model = _model()
    ws = _weights_by_name(model)
    expected = sum(l1 * np.abs(w).sum() + l2 * (w ** 2).sum() for w in ws)
    weights = penalized_weights(model)
    assert len(weights) == 3   # no biases, no batch-norm parameters
    value = Penalty(l1, l2)(weights)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()
    for w, t in zip(ws, weights):   # dR/dW = l1 sign(W) + 2 l2 W
        np.testing.assert_allclose(t.grad.double().numpy(), l1 * np.sign(w) + 2 * l2 * w, rtol=1e-5, atol=1e-7)


def test_penalty_is_falsy_when_off_and_rejects_negative():
    assert not Penalty() and Penalty(l2=1e-4)
    with pytest.raises(ValueError):
        Penalty(l1=-1.0)


def test_max_norm_clips_rows_and_leaves_the_rest():
    torch.manual_seed(0)
    r = 1.0
    lin, conv = nn.Linear(8, 10), nn.Conv2d(2, 6, 3)
    with torch.no_grad():
        lin.weight.mul_(torch.linspace(0.1, 6.0, 10)[:, None])   # some rows inside, some outside r
        conv.weight.mul_(torch.linspace(0.5, 8.0, 6)[:, None, None, None])
    before = [w.detach().double().numpy().reshape(len(w), -1).copy() for w in (lin.weight, conv.weight)]
    apply_max_norm([lin.weight, conv.weight], r)
    for w, old in zip((lin.weight, conv.weight), before):
        new = w.detach().double().numpy().reshape(len(w), -1)
        norms = np.linalg.norm(old, axis=1)
        inside, outside = norms <= r, norms > r
        assert inside.any() and outside.any()
        assert (np.linalg.norm(new, axis=1) <= r + 1e-6).all()
        np.testing.assert_array_equal(new[inside], old[inside])
        np.testing.assert_allclose(new[outside], old[outside] * (r / norms[outside])[:, None], rtol=1e-5)


def test_clip_by_norm_keeps_direction_clip_by_value_does_not():
    g = np.array([0.9, 100.0])
    p = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    p.grad = torch.tensor(g)
    total = nn.utils.clip_grad_norm_([p], max_norm=1.0)
    assert total.item() == pytest.approx(np.linalg.norm(g))
    np.testing.assert_allclose(p.grad.numpy(), g / np.linalg.norm(g), rtol=1e-6)   # same direction, norm 1
    p.grad = torch.tensor(g)
    nn.utils.clip_grad_value_([p], clip_value=1.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.9, 1.0])                          # direction changed


def test_penalty_of_no_weights_is_zero():
    assert Penalty(l1=0.1, l2=0.1)([]).item() == 0.0


def test_max_norm_leaves_frozen_weights_and_clips_them_once_unfrozen():
    torch.manual_seed(0)
    lin = nn.Linear(8, 10)
    with torch.no_grad():
        lin.weight.mul_(10.0)                                    # every row far outside r = 1
    lin.weight.requires_grad_(False)
    before = lin.weight.detach().clone()
    apply_max_norm([lin.weight], 1.0)
    assert torch.equal(lin.weight, before)
    lin.weight.requires_grad_(True)
    apply_max_norm([lin.weight], 1.0)
    assert (lin.weight.detach().norm(dim=1) <= 1.0 + 1e-6).all() and not torch.equal(lin.weight.detach(), before)


def test_training_with_max_norm_keeps_a_frozen_layer_bit_identical():
    from babysitter.spec import load_spec
    from babysitter.train.run import build
    from babysitter.train.trainer import Trainer

    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16]},
                      "regularize": {"max_norm": 0.5}, "train": {"epochs": 1}})
    model, data = build(spec)
    with torch.no_grad():
        model.fc1.weight.mul_(5.0)                               # rows above r: max-norm would shrink them
    model.fc1.weight.requires_grad_(False)
    frozen, head = model.fc1.weight.detach().clone(), model.head.weight.detach().clone()
    assert (frozen.norm(dim=1) > 0.5).any()
    Trainer(model, data, spec, progress=False).fit()
    assert torch.equal(model.fc1.weight, frozen)
    assert not torch.equal(model.head.weight.detach(), head)
    assert (model.head.weight.detach().norm(dim=1) <= 0.5 + 1e-5).all()
