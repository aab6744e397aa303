"""doctor/probes/init_loss.py: the loss of a fresh model against ln C (CS231n: "look for the correct loss
at chance performance"), on a Kit."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.doctor.probes.init_loss import init_loss_findings, probe_init_loss
from babysitter.doctor.probes.kit import Kit


def _kit(model, classes=10):
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randint(0, classes, (64,))
    return Kit.from_run(model, torch.optim.SGD(model.parameters(), lr=0.1), F.cross_entropy, [(x, y)],
                        "cross_entropy", classes)


def test_uniform_scores_give_exactly_ln_c():
    """A last layer of zeros gives every class the same score: softmax 1/C, loss -ln(1/C) = ln C."""
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 10))
    nn.init.zeros_(model[2].weight)
    nn.init.zeros_(model[2].bias)
    numbers, found = probe_init_loss(_kit(model))
    assert numbers["init_loss"] == pytest.approx(math.log(10), rel=1e-6)
    assert numbers["expected_init_loss"] == pytest.approx(math.log(10)) and numbers["init_score_std"] == 0.0
    assert found == []


def test_the_init_loss_is_torch_s_cross_entropy_of_the_fresh_model_and_large_scores_are_off():
    torch.manual_seed(1)
    model = nn.Linear(8, 10)
    with torch.no_grad():
        model.weight.mul_(30.0)                   # scores of std ~10: far from ln C
    kit = _kit(model)
    numbers, found = probe_init_loss(kit)
    x, y = kit.batches[0]
    assert numbers["init_loss"] == pytest.approx(float(F.cross_entropy(model(x), y)), rel=1e-6)
    margin = 0.5 + 0.1 * math.log(10)            # thresholds.init_loss_margin(10), the docstring's 0.73
    assert numbers["init_loss"] - math.log(10) > 3 * margin
    assert [(f.id, f.severity) for f in found] == [("init_loss_off", "warning")]
    assert found[0].facts["gap"] == pytest.approx(numbers["init_loss"] - math.log(10))


def test_margins_and_a_non_finite_loss():
    m = 0.5 + 0.1 * math.log(10)
    assert init_loss_findings(math.log(10) + 0.9 * m, 1.0, 10) == []
    assert [f.severity for f in init_loss_findings(math.log(10) + 1.1 * m, 1.0, 10)] == ["info"]
    below = init_loss_findings(math.log(10) - 1.1 * m, 1.0, 10)
    assert [(f.id, f.severity) for f in below] == [("init_loss_off", "info")] and below[0].facts["below_chance"]
    (nan,) = init_loss_findings(math.nan, math.nan, 10)
    assert nan.id == "loss_not_finite" and nan.facts == {"at_init": True, "non_finite": True}


@pytest.mark.parametrize("ignore", [None, 3])
def test_a_summed_loss_is_judged_per_scored_row(ignore):
    """reduction='sum' (old code's size_average=False): the init loss is the sum over the scored rows;
    per row it is the mean torch's own cross entropy gives, ignore_index rows excluded."""
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 10))
    kw = {"ignore_index": ignore} if ignore is not None else {}
    kit = _kit(model)
    kit.loss_fn = lambda out, y: F.cross_entropy(out, y, reduction="sum", **kw)
    kit.summed, kit.ignore_index = True, (ignore if ignore is not None else -100)
    numbers, found = probe_init_loss(kit)
    x, y = kit.batches[0]
    with torch.no_grad():
        mean = float(F.cross_entropy(model(x), y, **kw))
    assert numbers["init_loss"] == pytest.approx(mean, rel=1e-5)
    assert float(F.cross_entropy(model(x), y, reduction="sum", **kw)) > 20 * mean   # what was compared to ln C before
    assert found == []
