"""Every optimizer's first updates against its update rule written out in numpy, on the quadratic
f(x) = 1/2 x^T A x - b^T x (gradient A x - b); lbfgs and newton reach its minimum A^-1 b."""

import numpy as np
import pytest
import torch

from babysitter.optim.optimizers import NEEDS_CLOSURE, OPTIMIZERS, make_optimizer
from babysitter.spec import OptimSpec

A = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 1.0]])
B = np.array([1.0, -2.0, 0.5])
X0 = np.array([0.5, 1.5, -1.0])
LR, MOM, B1, B2, EPS, STEPS = 0.05, 0.9, 0.9, 0.999, 1e-8, 3


def grad(x):
    return A @ x - B


def sgd(x, mom=0.0, nesterov=False):
    v = np.zeros_like(x)
    for _ in range(STEPS):
        g = grad(x)
        v = mom * v + g
        x = x - LR * (g + mom * v if nesterov else v)
        yield x


def adagrad(x):
    c = np.zeros_like(x)
    for _ in range(STEPS):
        g = grad(x)
        c = c + g ** 2
        x = x - LR * g / (np.sqrt(c) + EPS)
        yield x


def rmsprop(x, r=0.99):
    c = np.zeros_like(x)
    for _ in range(STEPS):
        g = grad(x)
        c = r * c + (1 - r) * g ** 2
        x = x - LR * g / (np.sqrt(c) + EPS)
        yield x


def adam(x):
    m1, m2 = np.zeros_like(x), np.zeros_like(x)
    for t in range(1, STEPS + 1):
        g = grad(x)
        m1, m2 = B1 * m1 + (1 - B1) * g, B2 * m2 + (1 - B2) * g ** 2
        x = x - LR * (m1 / (1 - B1 ** t)) / (np.sqrt(m2 / (1 - B2 ** t)) + EPS)
        yield x


def nadam(x, psi=0.004):
    """torch's NAdam (Dozat 2016 with momentum decay mu_t = b1 (1 - 0.5 * 0.96^(t psi)))."""
    m1, m2, mu_prod = np.zeros_like(x), np.zeros_like(x), 1.0
    for t in range(1, STEPS + 1):
        g = grad(x)
        mu, mu_next = B1 * (1 - 0.5 * 0.96 ** (t * psi)), B1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_prod *= mu
        m1, m2 = B1 * m1 + (1 - B1) * g, B2 * m2 + (1 - B2) * g ** 2
        denom = np.sqrt(m2 / (1 - B2 ** t)) + EPS
        x = x - LR * (1 - mu) / (1 - mu_prod) * g / denom - LR * mu_next / (1 - mu_prod * mu_next) * m1 / denom
        yield x


def adamax(x):
    m1, u = np.zeros_like(x), np.zeros_like(x)
    for t in range(1, STEPS + 1):
        g = grad(x)
        m1, u = B1 * m1 + (1 - B1) * g, np.maximum(B2 * u, np.abs(g) + EPS)   # torch puts eps inside the max
        x = x - LR / (1 - B1 ** t) * m1 / u
        yield x


RULES = {
    "sgd": lambda x: sgd(x),
    "momentum": lambda x: sgd(x, MOM),
    "nesterov": lambda x: sgd(x, MOM, nesterov=True),
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "nadam": nadam,
    "adamax": adamax,
}


def test_every_optimizer_is_checked_here():
    assert set(RULES) | NEEDS_CLOSURE == set(OPTIMIZERS)


def _quadratic(x):
    a, b = torch.tensor(A), torch.tensor(B)
    return 0.5 * x @ a @ x - b @ x


@pytest.mark.parametrize("name", sorted(RULES))
def test_first_updates_match_the_rule(name):
    x = torch.nn.Parameter(torch.tensor(X0))
    opt = make_optimizer([x], OptimSpec(name=name, lr=LR, momentum=MOM, betas=(B1, B2), eps=EPS, weight_decay=0.0))
    for expected in RULES[name](X0.copy()):
        opt.zero_grad()
        _quadratic(x).backward()
        opt.step()
        # compare displacements from the start: torch keeps NAdam's mu_product in float32
        np.testing.assert_allclose(x.detach().numpy() - X0, expected - X0, rtol=1e-6)


# L-BFGS stops once the loss changes by < 1e-9 (torch's tolerance_change), about sqrt(1e-9) from x*
@pytest.mark.parametrize("name,steps,atol", [("lbfgs", 5, 1e-4), ("newton", 1, 1e-10)])
def test_second_order_methods_reach_the_minimum(name, steps, atol):
    x = torch.nn.Parameter(torch.tensor(X0))
    opt = make_optimizer([x], OptimSpec(name=name, lr=1.0))

    def closure(backward=True):   # the contract both accept (see babysitter.optim.newton)
        opt.zero_grad()
        loss = _quadratic(x)
        if backward:
            loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(A, B), atol=atol)
