"""Gradient check: passes on a correct net, catches a backward that is 2x off, reads as CS231n."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.gradcheck import gradient_check, reading, relative_error
from babysitter.nn.models import build_model
from babysitter.spec import ModelSpec


class DoubledTanh(torch.autograd.Function):
    """tanh whose backward returns 2x the true gradient (a deliberate bug)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return 2 * grad * (1 - y * y)


class BrokenTanh(nn.Module):
    def forward(self, x):
        return DoubledTanh.apply(x)


def _data(d=6, n=10, c=3):
    torch.manual_seed(0)
    return torch.randn(n, d), torch.randint(c, (n,))


def test_relative_error_and_reading():
    assert relative_error(1.0, 1.1) == pytest.approx(0.1 / 2.1)
    assert relative_error(0.0, 0.0) == 0.0
    assert [reading(e) for e in (0.5, 1e-3, 1e-5, 1e-8)] == [
        "probably wrong", "uncomfortable", "ok for objectives with kinks", "good"]


def test_correct_tanh_mlp_passes():
    x, y = _data()
    model = build_model(ModelSpec(kind="mlp", hidden=[8, 8], activation="tanh", norm="none", init="xavier"), (6,), 3)
    result = gradient_check(model, x, y, F.cross_entropy, samples=20)
    assert result["max_rel_error"] < 1e-6
    assert result["checked"] == 20
    assert result["reading"] == reading(result["max_rel_error"])
    assert next(model.parameters()).dtype == torch.float32 and model.training   # original untouched


def test_eval_mode_makes_dropout_and_batchnorm_deterministic():
    x, y = _data()
    spec = ModelSpec(kind="mlp", hidden=[8], activation="tanh", norm="batch", dropout=0.5)
    result = gradient_check(build_model(spec, (6,), 3), x, y, F.cross_entropy)
    assert result["max_rel_error"] < 1e-6


def test_doubled_backward_is_probably_wrong():
    x, y = _data()
    model = nn.Sequential(nn.Linear(6, 8), BrokenTanh(), nn.Linear(8, 3))
    result = gradient_check(model, x, y, F.cross_entropy)
    assert result["max_rel_error"] > 1e-2
    assert result["max_rel_error"] == pytest.approx(1 / 3, rel=1e-3)   # |2n - n| / (2n + n)
    assert result["reading"] == "probably wrong"
    assert result["worst"]["param"].startswith("0.")                    # the first layer


def test_first_and_last_layer_are_always_checked():
    # only the first layer's gradient is wrong (the bug sits right after it, before any other
    # parameter); one random sample could miss it, the guaranteed first-layer entries do not
    x, y = _data()
    model = nn.Sequential(nn.Linear(6, 8), BrokenTanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    result = gradient_check(model, x, y, F.cross_entropy, samples=1)
    assert result["checked"] == 4   # first weight + bias, last weight + bias
    assert result["reading"] == "probably wrong"


def test_tiny_and_non_finite_gradients():
    import math

    assert relative_error(1e-12, 3e-10) < 1e-3          # both below the float64 noise floor: not "wrong"
    assert math.isinf(relative_error(float("nan"), 1.0))  # a NaN gradient fails the check
    assert reading(relative_error(float("nan"), 1.0)) == "probably wrong"


def test_an_entry_across_a_relu_kink_is_skipped_not_failed():
    """Pre-activation exactly 0: the centred difference straddles the kink (numeric slope 1/2 of
    the one-sided ones); the check sees the branch change and skips the entry."""
    import torch
    from torch import nn

    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 2))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.fill_(0.0)
        net[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[2].bias.zero_()
    x, y = torch.zeros(1, 1), torch.tensor([0])   # relu input = w*0 + b = 0: on the kink
    out = gradient_check(net, x, y, torch.nn.functional.cross_entropy, samples=4)
    assert out["kinks_skipped"] >= 1 and out["reading"] != "probably wrong"
