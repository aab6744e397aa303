"""Newton's method against numpy: the quadratic's minimum in one step, and the Newton step of a
linear softmax classifier from its gradient and Hessian written out."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.optim.newton import Newton


def _closure(opt, loss_of):
    def closure(backward=True):
        opt.zero_grad()
        loss = loss_of()
        if backward:
            loss.backward()
        return loss
    return closure


def test_one_step_solves_an_ill_conditioned_quadratic():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    a = q @ np.diag(np.logspace(0, 6, 8)) @ q.T            # SPD, condition number 1e6
    b = rng.normal(size=8)
    x = nn.Parameter(torch.zeros(8, dtype=torch.float64))
    at, bt = torch.tensor(a), torch.tensor(b)
    opt = Newton([x])                                       # defaults: lr 1, damping 0
    loss = opt.step(_closure(opt, lambda: 0.5 * x @ at @ x - bt @ x))
    assert loss.item() == 0.0                                # the loss at the start point
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(a, b), atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), -b)         # .grad: the gradient at the start


def _softmax_newton_step(w, bias, x, y, damping):
    """Gradient and Hessian of mean cross-entropy of scores x W^T + b, parameters ordered
    [W row-major, b] as torch flattens them:  g = mean (p - onehot) [x, 1],
    H = mean (diag(p) - p p^T) (x) [x, 1][x, 1]^T  (Kronecker product, class-major)."""
    n, c = len(x), len(bias)
    xt = np.hstack([x, np.ones((n, 1))])                    # (N, D+1)
    s = x @ w.T + bias
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    r = p - np.eye(c)[y]
    gw, gb = r.T @ x / n, r.sum(axis=0) / n
    g = np.concatenate([gw.ravel(), gb])
    d = x.shape[1]
    h_full = sum(np.kron(np.diag(pi) - np.outer(pi, pi), np.outer(xi, xi)) for pi, xi in zip(p, xt)) / n
    # h_full indexes (class, feature-or-1); reorder to [W (class, feature) ..., b (class)]
    order = [k * (d + 1) + j for k in range(c) for j in range(d)] + [k * (d + 1) + d for k in range(c)]
    h = h_full[np.ix_(order, order)]
    if damping:
        return g, h, np.linalg.solve(h + damping * np.eye(len(g)), g)
    return g, h, np.linalg.pinv(h) @ g                      # minimum-norm least squares


@pytest.mark.parametrize("damping", [0.0, 0.1])
def test_softmax_step_equals_numpy_newton_step(damping):
    torch.manual_seed(0)
    d, c, n, lr = 4, 3, 40, 0.5
    model = nn.Linear(d, c).double()
    x, y = torch.randn(n, d, dtype=torch.float64), torch.randint(c, (n,))
    w0, b0 = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()
    g, h, step = _softmax_newton_step(w0, b0, x.numpy(), y.numpy(), damping)
    if not damping:
        assert np.linalg.matrix_rank(h) < len(g)            # softmax's shift invariance: H singular
    opt = Newton(model.parameters(), lr=lr, damping=damping)
    opt.step(_closure(opt, lambda: F.cross_entropy(model(x), y)))
    after = np.concatenate([model.weight.detach().numpy().ravel(), model.bias.detach().numpy()])
    np.testing.assert_allclose(after, np.concatenate([w0.ravel(), b0]) - lr * step, atol=1e-8)
    # the same Hessian from torch's own functional hessian
    flat = lambda wb: F.cross_entropy(x @ wb[:d * c].view(c, d).T + wb[d * c:], y)
    h_torch = torch.autograd.functional.hessian(flat, torch.tensor(np.concatenate([w0.ravel(), b0])))
    np.testing.assert_allclose(h_torch.numpy(), h, atol=1e-10)


def test_row_by_row_fallback_gives_the_same_step(monkeypatch):
    """When a model's ops cannot be vectorised (vmap), the rows come one backward at a time."""
    real_grad = torch.autograd.grad

    def no_vmap(*args, is_grads_batched=False, **kwargs):
        if is_grads_batched:
            raise RuntimeError("no batching rule")
        return real_grad(*args, **kwargs)

    steps = []
    for patch in (False, True):
        if patch:
            monkeypatch.setattr(torch.autograd, "grad", no_vmap)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
        x, y = torch.randn(10, 3, dtype=torch.float64), torch.randint(2, (10,))
        opt = Newton(model.parameters(), damping=1.0)
        opt.step(_closure(opt, lambda: F.cross_entropy(model(x), y)))
        steps.append(torch.cat([p.detach().ravel() for p in model.parameters()]))
    torch.testing.assert_close(steps[0], steps[1], rtol=1e-10, atol=1e-12)


def test_contract_and_arguments_are_checked():
    p = nn.Parameter(torch.zeros(3))
    opt = Newton([p])
    with pytest.raises(ValueError, match="backward=False"):
        opt.step(lambda: (p ** 2).sum())                     # a closure without the backward argument
    with pytest.raises(ValueError, match="backward=False"):
        opt.step()
    with pytest.raises(ValueError):
        Newton([p], lr=0.0)
    with pytest.raises(ValueError):
        Newton([p], damping=-1.0)
    with pytest.raises(ValueError, match="lbfgs"):
        Newton([nn.Parameter(torch.zeros(100, 100))])       # 10^4 parameters: a 10^8-entry Hessian
