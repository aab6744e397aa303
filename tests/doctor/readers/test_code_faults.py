"""doctor/readers/code_faults.py: the evidence of a user's own loop (recorded as the watch's hooks
record it) and the code faults read from it, against independent computations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.doctor.readers.code_faults import Evidence, findings, nothing_to_step, residual


def test_residual_matches_the_projection_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    expected = np.linalg.norm(a - a.dot(b) / b.dot(b) * b) / np.linalg.norm(a)
    assert residual(torch.tensor(a), torch.tensor(b)) == pytest.approx(expected, rel=1e-12)
    assert residual(torch.tensor(3 * b), torch.tensor(b)) == pytest.approx(0, abs=1e-12)


def _loop(zero_grad: bool, steps: int = 6):
    """A plain SGD loop on a small MLP with every step read, the Evidence fed as the watch feeds it."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    ev = Evidence()
    ev.start(model, opt)
    grads = []
    for step in range(steps):
        x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
        if zero_grad:
            opt.zero_grad()
        logits = model(x)
        ev.loss_input("cross_entropy", logits.detach())
        F.cross_entropy(logits, y).backward()
        ev.pre_step(step, model, opt, read=True)
        grads.append(model[2].weight.grad.detach().clone())   # the smallest stepped weight: the one followed
        opt.step()
        ev.after_step(step, model, opt, read=True)
    ev.stop_fresh()
    return ev, grads


def test_a_missing_zero_grad_is_read_from_the_gradients_and_a_loop_with_it_is_not():
    ev, grads = _loop(zero_grad=False)
    # without zero_grad the stepped gradient is the previous one plus the fresh one: g_new = g_t - g_(t-1)
    step, r_new, r_sum = ev.accumulated[0]
    g, prev = grads[step].double().numpy().ravel(), grads[step - 1].double().numpy().ravel()
    new = g - prev
    expected = np.linalg.norm(g - g.dot(new) / new.dot(new) * new) / np.linalg.norm(g)
    assert r_new == pytest.approx(expected, rel=1e-6) and r_sum < 1e-6
    assert [f.id for f in findings(ev, 6)] == ["grad_not_zeroed"]
    ev, _ = _loop(zero_grad=True)
    assert ev.accumulated and all(r_new < 1e-6 for _, r_new, _ in ev.accumulated)
    assert findings(ev, 6) == []                          # raw scores into cross entropy: no softmax fault either


def test_probabilities_into_cross_entropy_are_softmax_before_loss():
    ev = Evidence()
    logits = torch.randn(16, 5)
    for _ in range(3):
        ev.loss_input("cross_entropy", torch.softmax(logits, 1))
    ev.loss_input("nll_loss", torch.log_softmax(logits, 1))   # what NLL takes: no fault
    (f,) = findings(ev, 3)
    assert f.id == "softmax_before_loss" and f.facts == {"loss": "cross_entropy", "input": "probabilities",
                                                         "seen": 3, "of": 4}


def test_an_optimizer_over_none_of_the_model_s_parameters():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    other = nn.Linear(3, 3)
    (f,) = nothing_to_step(model, torch.optim.SGD(other.parameters(), lr=0.1))
    assert f.id == "parameters_not_updated" and f.severity == "error"
    assert f.facts == {"model_parameters": 4, "trainable": 4, "optimizer_parameters": 2}
    assert nothing_to_step(model, torch.optim.SGD(model[1].parameters(), lr=0.1)) == []
