"""Gradients at init (CS231n, "Training Neural Networks I": the pictures of activations dying out with a
small init or blowing up with a large one show in the per-layer gradient norms before any step). Run on
a :class:`~babysitter.doctor.probes.kit.Kit`."""

from __future__ import annotations

import copy
import math

import torch

from babysitter.doctor.findings import Finding, json_safe
from babysitter.doctor.instruments import weighted_layers
from babysitter.doctor.probes.kit import Kit
from babysitter.doctor.thresholds import EXPLODING_AT_INIT, VANISHED_TOTAL, VANISHING_AT_INIT


def init_gradient_findings(norms: dict[str, float], names: list[str]) -> tuple[dict, list[Finding]]:
    """(numbers, findings) from per-layer gradient norms at init, ``names`` in forward order:
    exploding when the total is non-finite or > EXPLODING_AT_INIT, vanishing when first/last
    < VANISHING_AT_INIT or the total < VANISHED_TOTAL."""
    first, last = norms[names[0]], norms[names[-1]]
    total = math.sqrt(sum(v * v for v in norms.values())) if all(map(math.isfinite, norms.values())) else math.inf
    ratio = first / last if last > 0 else math.inf
    numbers = {"init_grad_norms": {k: json_safe(v) for k, v in norms.items()}, "init_grad_first_last": json_safe(ratio),
               "init_grad_total": json_safe(total)}
    where = (f"gradient norms at init: first layer {names[0]} {first:.3g}, last {names[-1]} {last:.3g} "
             f"(ratio {ratio:.3g}), total {total:.3g}")
    if not math.isfinite(total) or total > EXPLODING_AT_INIT:
        return numbers, [Finding("exploding_gradients", "warning", where + f" (> {EXPLODING_AT_INIT:g})",
                                 facts={"at_init": True, "total": json_safe(total), "first_last": json_safe(ratio),
                                        "non_finite": not math.isfinite(total)},
                                 layer=names[0], score=min(1.0, 0.6 + math.log10(max(total, 1.0) / EXPLODING_AT_INIT) / 10))]
    if ratio < VANISHING_AT_INIT or total < VANISHED_TOTAL:
        return numbers, [Finding("vanishing_gradients", "warning",
                                 where + f" (first/last < {VANISHING_AT_INIT:g} or total < {VANISHED_TOTAL:g})",
                                 facts={"at_init": True, "total": total, "first_last": json_safe(ratio)},
                                 layer=names[0], score=0.7)]
    return numbers, []


def probe_init_gradients(kit: Kit) -> tuple[dict, list[Finding]]:
    """One backward pass at init (train mode, the first batch): per-layer gradient norms of the
    Linear/Conv weights, first vs last. The lecture's pictures of activations dying out (small
    init) or blowing up (large init) show here before any step is taken."""
    x, y = kit.xy(1)
    model = copy.deepcopy(kit.model).train()
    layers = weighted_layers(model)
    if len(layers) < 2:
        return {"init_grad_norms": None}, []
    kit.loss_fn(kit.out(model, x, y), y).backward()
    norms = {n: float(w.grad.norm()) if w.grad is not None else 0.0 for n, w in layers}
    numbers, found = init_gradient_findings(norms, [n for n, _ in layers])
    last_name, last_w = layers[-1]
    # a gradient that is there and exactly 0 (None: the loss does not reach the layer, another fault)
    last_bias = getattr(dict(model.named_modules()).get(last_name), "bias", None)
    # ... and the loss depends on the output (dL/db = sum of delta != 0; a constant loss, e.g. a softmax
    # over a size-1 axis, gives 0 everywhere with live units)
    moves = last_bias is None or last_bias.grad is None or bool(torch.count_nonzero(last_bias.grad))
    if last_w.grad is not None and norms[last_name] == 0.0 and float(last_w.detach().norm()) > 0 and moves:
        found = [dead_units_finding(last_name)] + found   # causes.py: its symptoms
    return numbers, found


def dead_units_finding(last: str) -> Finding:
    """The last layer's weight gradient dL/dW = delta^T h (delta = dL/d(output), h its inputs) is
    exactly 0 with nonzero weights only when h = 0 for every example: the hidden units feeding it
    are all off (dead ReLUs, e.g. a negative bias), so no layer below gets a gradient either."""
    return Finding("dead_relu", "warning",
                   f"the last layer {last} has nonzero weights yet a weight gradient of exactly 0 at init: its inputs "
                   "(the last hidden activations) are 0 for every example, the ReLU units are dead",
                   facts={"at_init": True, "last_grad_zero": True, "fraction": 1.0}, layer=last, score=1.0)

