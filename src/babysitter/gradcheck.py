"""Gradient check (CS231n, Neural Networks 3: "Gradient checks").

Compare the analytic gradient ``a = df/dw`` (autograd) with the centred difference

    n = (f(w + h) - f(w - h)) / (2 h)                    h = eps, default 1e-6

on sampled entries w of the parameters, by the relative error

    rel = |a - n| / max(|a| + |n|, 1e-6)        (the floor: see TINY)

and read the worst one as the notes do:

    rel > 1e-2          "probably wrong"
    1e-4 < rel <= 1e-2  "uncomfortable"
    1e-7 < rel <= 1e-4  "ok for objectives with kinks"   (ReLU, hinge; too high without kinks: tanh, softmax)
    rel <= 1e-7         "good"

The notes' advice is followed: the check runs in float64 (in float32 the rounding of ``f`` swamps
a difference over ``h = 1e-6``), on a copy of the model (the original is not touched), in eval mode
so the function is deterministic: dropout, DropConnect and stochastic depth would draw a new
mask for each of f(w+h), f(w-h), and train-mode batch norm would update its running statistics
on every evaluation. (Eval-mode batch norm uses the running statistics, so the path through the
batch statistics themselves is not checked.) Every tensor of the first and of the last layer
gets at least one checked entry, so a wrong gradient at either end of the net cannot be missed.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

READINGS = ((1e-2, "probably wrong"), (1e-4, "uncomfortable"), (1e-7, "ok for objectives with kinks"))


def reading(rel_error: float) -> str:
    """The CS231n notes' words for a relative error (see the module docstring)."""
    for threshold, words in READINGS:
        if rel_error > threshold:
            return words
    return "good"


# Below this size a centred difference in float64 is rounding noise: with |f| ~ 1 and h = 1e-6 the
# numeric gradient carries an error of ~1e-10 (eps_64 |f| / h), so the notes' caution applies
# ("watch the magnitude: tiny gradients give large relative errors"); the floor keeps an entry
# whose true gradient is ~0 from reading as "probably wrong".
TINY = 1e-6
# The notes: a step h that crosses a kink (ReLU, max) gives a wrong numeric gradient. An entry that
# disagrees at h = eps is checked again at these steps and keeps its best agreement: a gradient
# that is really wrong disagrees at every h, one next to a kink agrees at a smaller or larger h.
RETRY_STEPS = (1e-4, 1e-8)
# Modules whose input sign decides the branch taken; an entry whose +-h evaluations take different
# branches somewhere (and still disagree) is skipped and counted in ``kinks_skipped``.
KINKED = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU)


def relative_error(a: float, n: float) -> float:
    """``|a - n| / max(|a| + |n|, TINY)``; NaN/Inf in either gives inf (a failed check)."""
    if not (math.isfinite(a) and math.isfinite(n)):
        return math.inf
    return abs(a - n) / max(abs(a) + abs(n), TINY)


def _entries(named, samples: int, gen: torch.Generator) -> list[tuple[str, int]]:
    """(parameter name, flat index) pairs: one per tensor of the first and last layer, then
    random tensors (each equally likely, so biases and BN scales get checked too) and entries."""
    layer = lambda name: name.rpartition(".")[0]
    first, last = layer(named[0][0]), layer(named[-1][0])
    picks = []
    for name, p in named:
        if layer(name) in (first, last):
            picks.append((name, int(torch.randint(p.numel(), (), generator=gen))))
    while len(picks) < samples:
        name, p = named[int(torch.randint(len(named), (), generator=gen))]
        picks.append((name, int(torch.randint(p.numel(), (), generator=gen))))
    return picks


def gradient_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn,
                   samples: int = 20, eps: float = 1e-6, seed: int = 0) -> dict:
    """Check autograd's gradient of ``loss_fn(model(x), y)`` against centred differences.

    ``x: (N, ...)`` a small batch, ``y: (N,)``; ``loss_fn(logits, y) -> scalar``. Checks
    ``max(samples, tensors of the first + last layer)`` entries. Returns ``{"max_rel_error",
    "checked", "reading", "worst": {"param", "index", "analytic", "numeric"}}``.
    """
    net = copy.deepcopy(model).double().eval()
    x = x.double() if x.is_floating_point() else x
    named = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("gradient check: the model has no trainable parameters")
    params = dict(named)
    f = lambda: float(loss_fn(net(x), y))

    analytic = dict(zip(params, torch.autograd.grad(loss_fn(net(x), y), list(params.values()),
                                                    materialize_grads=True)))
    gen = torch.Generator().manual_seed(seed)
    worst = {"param": None, "index": None, "analytic": 0.0, "numeric": 0.0}
    max_rel, picks = 0.0, _entries(named, samples, gen)
    patterns: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: patterns.append(inp[0] > 0))
             for m in net.modules() if isinstance(m, KINKED)]

    def numeric(w, i, h):
        """(centred difference, whether a kink lies between w-h and w+h)."""
        old = float(w[i])
        patterns.clear()
        w[i] = old + h
        f_plus = f()
        plus = list(patterns)
        patterns.clear()
        w[i] = old - h
        f_minus = f()
        w[i] = old
        kinked = any(not torch.equal(p, m) for p, m in zip(plus, patterns))
        return (f_plus - f_minus) / (2 * h), kinked

    kinks = 0
    with torch.no_grad():
        for name, i in picks:
            w = params[name].view(-1)
            a = float(analytic[name].reshape(-1)[i])
            n, kinked = numeric(w, i, eps)
            rel = relative_error(a, n)
            for h in RETRY_STEPS if rel > 1e-4 else ():  # a kink crossed or rounding: a right gradient agrees at some h
                n_h, kinked_h = numeric(w, i, h)
                if relative_error(a, n_h) < rel:
                    n, rel, kinked = n_h, relative_error(a, n_h), kinked_h
            if kinked and rel > 1e-4:  # the numeric gradient is not exact across a kink: not evidence of a bug
                kinks += 1
                continue
            if rel >= max_rel:
                max_rel, worst = rel, {"param": name, "index": i, "analytic": a, "numeric": n}
    for h in hooks:
        h.remove()
    return {"max_rel_error": max_rel, "checked": len(picks) - kinks, "kinks_skipped": kinks,
            "reading": reading(max_rel), "worst": worst}
