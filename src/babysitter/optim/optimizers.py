"""Optimizers by their lecture names, all from torch.optim (CS231n, Training Neural Networks II).

With learning rate a, gradient g and step t:

sgd        x -= a g
momentum   v = m v + g;          x -= a v                       (torch's form of m v - a g)
nesterov   v = m v + g;          x -= a (g + m v)               (look-ahead gradient)
adagrad    c += g^2;             x -= a g / (sqrt(c) + eps)
rmsprop    c = r c + (1-r) g^2;  x -= a g / (sqrt(c) + eps)     r = 0.99
adam       m1 = b1 m1 + (1-b1) g, m2 = b2 m2 + (1-b2) g^2, bias-corrected
           x -= a m1^ / (sqrt(m2^) + eps)                       b1 0.9, b2 0.999, a 1e-3
nadam      adam with a Nesterov look-ahead on m1 (Dozat 2016)
adamax     adam with the infinity norm: u = max(b2 u, |g|);  x -= a m1^ / u
lbfgs      limited-memory BFGS on the full batch (needs a closure)
newton     x -= a (H + damping I)^-1 g, exact Hessian, small models (needs a closure(backward=False))

``optim.weight_decay`` is torch's coupled weight decay (g += wd x); ``regularize.l2`` adds the
lecture's penalty to the loss instead.
"""

from __future__ import annotations

import torch

from babysitter.errors import BadInput

from babysitter.optim.newton import Newton


def _sgd(params, s, momentum=0.0, nesterov=False):
    return torch.optim.SGD(params, lr=s.lr, momentum=momentum, nesterov=nesterov, weight_decay=s.weight_decay)


OPTIMIZERS = {
    "sgd": lambda params, s: _sgd(params, s),
    "momentum": lambda params, s: _sgd(params, s, momentum=s.momentum),
    "nesterov": lambda params, s: _sgd(params, s, momentum=s.momentum, nesterov=s.momentum > 0),
    "adagrad": lambda params, s: torch.optim.Adagrad(params, lr=s.lr, eps=s.eps, weight_decay=s.weight_decay),
    "rmsprop": lambda params, s: torch.optim.RMSprop(params, lr=s.lr, alpha=0.99, eps=s.eps, weight_decay=s.weight_decay),
    "adam": lambda params, s: torch.optim.Adam(params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay),
    "nadam": lambda params, s: torch.optim.NAdam(params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay),
    "adamax": lambda params, s: torch.optim.Adamax(params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay),
    "lbfgs": lambda params, s: torch.optim.LBFGS(params, lr=s.lr, history_size=10, max_iter=20, line_search_fn="strong_wolfe"),
    "newton": lambda params, s: Newton(params, lr=s.lr),
}

NEEDS_CLOSURE = {"lbfgs", "newton"}


def make_optimizer(params, spec) -> torch.optim.Optimizer:
    """The optimizer ``spec.name`` over ``params`` (an iterable of tensors or param groups).
    A setting the optimizer refuses (torch's ValueError) is bad input: BadInput, one line."""
    try:
        return OPTIMIZERS[spec.name](params, spec)
    except ValueError as e:
        raise BadInput(f"optim: {e}") from None


NORMS = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)


def norm_groups(model: torch.nn.Module, spec) -> list:
    """The parameters of ``model`` that require grad, as optimizer groups: with
    ``optim.norm_lr_scale = s != 1``, the normalisation layers' scales and shifts (gamma, beta)
    form a second group of learning rate ``s * optim.lr`` (airbench: s = 64 on batch-norm biases
    cut CIFAR-10 epochs 18 -> 13.5); a schedule scales both groups alike. Otherwise (and for the
    closure optimizers, which take one group) a plain list of tensors."""
    params = [p for p in model.parameters() if p.requires_grad]
    if spec.norm_lr_scale == 1.0 or spec.name in NEEDS_CLOSURE:
        return params
    norm = {id(p) for m in model.modules() if isinstance(m, NORMS) for p in m.parameters(recurse=False)}
    rest = [p for p in params if id(p) not in norm]
    scaled = [p for p in params if id(p) in norm]
    return [{"params": rest}, {"params": scaled, "lr": spec.lr * spec.norm_lr_scale}] if scaled else params
