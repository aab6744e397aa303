"""Newton's method with the exact Hessian (CS231n, Training Neural Networks II: second-order
optimization), for small models.

With all parameters flattened into one vector ``x`` of n entries, loss ``f``, gradient
``g = grad f(x)`` (n,) and Hessian ``H = grad^2 f(x)`` (n, n):

    x <- x - lr * (H + damping I)^-1 g                  defaults: lr = 1.0, damping = 0.0

``lr = 1, damping = 0`` is the pure Newton step: on a quadratic ``f = 1/2 x^T A x - b^T x``
(A positive definite) one step lands on the minimum ``A^-1 b``. ``damping > 0`` is
Levenberg-Marquardt damping: it shifts every curvature up by ``damping``, shortening steps along
flat directions (and makes a positive-semidefinite H invertible).

Where the code differs from the formula: H is symmetrised, ``(H + H^T) / 2``, against rounding,
and the system is solved in float64 with the Moore-Penrose pseudo-inverse of ``H + damping I``
(through its eigendecomposition; eigenvalues below ``n * eps(param dtype) * max|eigenvalue|``
count as zero). When H is invertible that IS ``H^-1 g``; when H is singular it is the
minimum-norm least-squares solution. Singular H is common: softmax scores are unchanged by
adding the same number to every class, so even a linear softmax classifier's H has a null space.

On a non-convex loss H may be indefinite and the step may go uphill; with no line search a full
step (lr = 1) can also overshoot far from the minimum. Use lr < 1 or damping there (the lecture's
reasons to prefer L-BFGS in practice).

Cost per step: one backward pass for g, then the n rows of H (``torch.autograd.grad`` with
``is_grads_batched``, a chunk of rows per vectorised pass), O(n^2) memory and O(n^3) for the
solve, so construction refuses more than ``max_params`` (default 5000) parameters.

The closure contract: ``closure(backward=False)`` must return the scalar loss WITH its autograd
graph and must not call ``backward()`` itself (Newton differentiates the graph twice with
``torch.autograd.grad(create_graph=True)``, so ``.grad`` alone is not enough)::

    def closure(backward=True):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        if backward:
            loss.backward()
        return loss

After ``step`` each parameter's ``.grad`` holds the gradient at the point the step started from.
"""

from __future__ import annotations

import inspect

import torch


def _takes_backward(closure) -> bool:
    params = inspect.signature(closure).parameters
    return "backward" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class Newton(torch.optim.Optimizer):
    """``x <- x - lr * (H + damping I)^-1 g`` over all parameters flattened (see the module)."""

    CHUNK = 256   # Hessian rows per vectorised backward pass (bounds the memory of one pass)

    def __init__(self, params, lr: float = 1.0, damping: float = 0.0, max_params: int = 5000):
        if lr <= 0.0:
            raise ValueError(f"newton: lr must be > 0, got {lr}")
        if damping < 0.0:
            raise ValueError(f"newton: damping must be >= 0, got {damping}")
        super().__init__(params, dict(lr=lr, damping=damping))
        if len(self.param_groups) != 1:
            raise ValueError("newton: one Hessian over all parameters; per-parameter groups are not supported")
        n = sum(p.numel() for p in self.param_groups[0]["params"])
        if n > max_params:
            raise ValueError(f"newton: {n} parameters make a {n}x{n} Hessian; the exact Newton step is for "
                             f"small models (<= {max_params} parameters) — use lbfgs instead")

    def _gradient_and_hessian(self, loss, params):
        """g (n,) and H (n, n) of ``loss`` w.r.t. ``params``; H row i = d g_i / d x.

        Rows come ``CHUNK`` at a time from one vectorised (vmap) backward pass each; an op
        without a batching rule falls back to one backward pass per row.
        """
        grads = torch.autograd.grad(loss, params, create_graph=True, materialize_grads=True)
        g = torch.cat([gr.reshape(-1) for gr in grads])
        n = g.numel()
        h = g.new_zeros(n, n)
        if not g.requires_grad:   # a loss linear in every parameter: H = 0, and g has no graph
            return g.detach(), h
        flat = lambda rows, k: torch.cat([r.reshape(k, -1) for r in rows], dim=1)
        try:
            for start in range(0, n, self.CHUNK):
                k = min(self.CHUNK, n - start)
                e = g.new_zeros(k, n)                       # rows start..start+k of the identity
                e[:, start:start + k] = torch.eye(k, dtype=g.dtype, device=g.device)
                rows = torch.autograd.grad(g, params, grad_outputs=e, retain_graph=True,
                                           is_grads_batched=True, materialize_grads=True)
                h[start:start + k] = flat(rows, k)
        except RuntimeError:
            for i in range(n):
                h[i] = flat(torch.autograd.grad(g[i], params, retain_graph=True, materialize_grads=True), 1)[0]
        return g.detach(), h.detach()

    @torch.no_grad()
    def step(self, closure=None):
        """One Newton step. ``closure(backward=False)`` returns the loss with its graph; returns the loss."""
        if closure is None or not _takes_backward(closure):
            raise ValueError("newton: step(closure) needs a closure accepting backward=False that returns "
                             "the loss with its graph (see babysitter.optim.newton)")
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.requires_grad]
        with torch.enable_grad():
            loss = closure(backward=False)
            g, h = self._gradient_and_hessian(loss, params)
        n, dtype = g.numel(), params[0].dtype
        h = h.double()
        h = (h + h.T) / 2 + group["damping"] * torch.eye(n, dtype=torch.float64, device=h.device)
        rtol = n * torch.finfo(dtype).eps
        direction = torch.linalg.pinv(h, hermitian=True, rtol=rtol) @ g.double()
        offset = 0
        for p in params:
            k = p.numel()
            p.grad = g[offset:offset + k].view_as(p).clone()
            p.add_(direction[offset:offset + k].view_as(p).to(dtype), alpha=-group["lr"])
            offset += k
        return loss.detach()
