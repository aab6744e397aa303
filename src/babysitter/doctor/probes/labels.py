"""What the batches' labels say, on a :class:`~babysitter.doctor.probes.kit.Kit`: ``unshuffled_data`` (too
few distinct labels per batch for shuffled data) and ``labels_look_random`` (a copy fits the
labels it is trained on but scores chance on later batches). See :func:`probe_shuffling` and
:func:`probe_labels`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from babysitter.doctor.findings import Finding, json_safe
from babysitter.doctor.probes.kit import accuracy

if TYPE_CHECKING:
    from babysitter.doctor.probes.kit import Kit


def expected_distinct(c: int, b: int) -> float:
    """Distinct labels expected in a batch of ``b`` drawn from ``c`` equally frequent classes."""
    return c * (1 - (1 - 1 / c) ** b)


def probe_shuffling(kit: Kit) -> tuple[dict, list[Finding]]:
    """``unshuffled_data``: warning when the first batches hold on average <= max(1.5, 0.3 E)
    distinct labels, E = :func:`expected_distinct` (C, B), and E >= 3."""
    if not kit.classification or len(kit.batches) < 2 or not kit.per_example:
        return {}, []   # a sequence's targets are its next tokens: their order is the data, not a sort
    distinct = [int(torch.unique(y).numel()) for _, y in kit.batches]
    b = int(np.median([len(y) for _, y in kit.batches]))
    c = max(kit.num_classes, int(max(int(y.max()) for _, y in kit.batches)) + 1)
    e = expected_distinct(c, b)
    mean = float(np.mean(distinct))
    numbers = {"batch_labels": {"distinct": distinct, "expected": e, "batch_size": b, "classes": c}}
    if e < 3 or mean > max(1.5, 0.3 * e):
        return numbers, []
    return numbers, [Finding("unshuffled_data", "warning",
                             f"the first {len(distinct)} batches hold {mean:.2g} distinct labels on average "
                             f"({distinct}); shuffled batches of {b} from {c} classes hold ~{e:.2g}",
                             "", score=min(1.0, 1 - mean / e + 0.3))]


LABELS_STEPS = 150
from babysitter.doctor.thresholds import SEQUENCE_MARGIN  # noqa: E402


def chance(kit: Kit, y: torch.Tensor, hy: torch.Tensor) -> float:
    """The accuracy of always answering the training targets' most frequent class, on the held-out
    targets, and at least 1/C: next-token targets are far from uniform (a space is ~15 % of text),
    so a model that learnt only the label frequencies beats 1/C without any signal from x."""
    y, hy = kit.flat(y).reshape(-1), kit.flat(hy).reshape(-1)
    if kit.ignore_index is not None:
        y, hy = y[y != kit.ignore_index], hy[hy != kit.ignore_index]
    if not len(y) or not len(hy):
        return 1 / kit.num_classes
    top = torch.bincount(y.long().clamp_min(0)).argmax()
    return max(1 / kit.num_classes, float((hy == top).float().mean()))


def _train_and_score(kit: Kit, x, labels, hx, hy, steps: int) -> dict:
    """A fresh copy trained ``steps`` steps on (x, labels) at the labels lr, scored on (hx, hy)."""
    model, _, step = kit.fresh(kit.labels_lr)
    model.train()
    bs = len(kit.batches[0][0])
    losses = []
    for t in range(steps):
        i = (t * bs) % max(len(x) - bs + 1, 1)
        losses.append(step(x[i:i + bs], labels[i:i + bs])[0])
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    return {"held_out_acc": accuracy(model, hx, hy, kit), "train_loss_first": json_safe(float(first)),
            "train_loss_last": json_safe(float(last))}


def probe_labels(kit: Kit, steps: int = LABELS_STEPS) -> tuple[dict, list[Finding]]:
    """Do the labels carry signal? Train a copy on all batches but the last quarter (at the run's
    optimizer and lr) and score it on the held-out quarter; the same with the training labels
    permuted. ``labels_look_random``: warning when the copy learnt (its training loss fell by
    > 20 %) but scores <= chance + max(0.1, 3 sqrt(p (1 - p) / n)) held out, p = 1/C. Sequence
    targets: p = :func:`chance` (the majority token's share), the margin max(SEQUENCE_MARGIN,
    3 sqrt(p (1 - p) / n)) over the n tokens scored, and no better than the permuted copy + it (trained
    only when the real copy did not already beat chance + margin: it could change nothing). Skipped
    when the batches look unshuffled (later batches hold other classes) or fewer than 4 batches."""
    if not kit.classification or len(kit.batches) < 4:
        return {}, []
    k = len(kit.batches) - max(1, len(kit.batches) // 4)
    x, y = kit.xy(k)
    hx = torch.cat([b[0] for b in kit.batches[k:]])
    hy = torch.cat([b[1] for b in kit.batches[k:]])
    # a small data set wraps into its next epoch within the batches seen: held out means never trained on
    seen = torch.cdist(hx.reshape(len(hx), -1).float(), x.reshape(len(x), -1).float()).amin(1) <= 1e-6
    hx, hy = hx[~seen], hy[~seen]
    if len(hy) < 8:
        return {"labels": {"skipped": f"{len(hy)} later examples not among the first batches"}}, []
    if kit.per_example:   # one label per example: chance 1/C, margin >= 0.1 (calibrated on the clinic)
        p = 1 / kit.num_classes
        margin = max(0.1, 3 * math.sqrt(p * (1 - p) / len(hy)))
    else:                 # next-token targets: the majority token's share; a margin over the tokens scored
        p = chance(kit, y, hy)
        scored = kit.flat(hy).reshape(-1)
        n = int((scored != kit.ignore_index).sum()) if kit.ignore_index is not None else scored.numel()
        margin = max(SEQUENCE_MARGIN, 3 * math.sqrt(p * (1 - p) / max(n, 1)))
    real = _train_and_score(kit, x, y, hx, hy, steps)
    learnt = (math.isfinite(real["train_loss_first"] or math.nan) and math.isfinite(real["train_loss_last"] or math.nan)
              and real["train_loss_last"] < 0.8 * min(real["train_loss_first"], math.log(kit.num_classes)))
    result = {"real": real, "chance": p, "margin": margin, "held_out": len(hy), "trained_on": len(y)}
    numbers = {"labels": result}
    if not learnt or real["held_out_acc"] > p + margin:   # decided: the permuted copy would change nothing
        return numbers, []
    permuted = result["permuted"] = _train_and_score(
        kit, x, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))], hx, hy, steps)
    if not kit.per_example and real["held_out_acc"] > permuted["held_out_acc"] + margin:
        return numbers, []
    return numbers, [Finding(
        "labels_look_random", "warning",
        f"a copy trained {steps} steps on the first {len(y)} examples fits them (loss {real['train_loss_first']:.3g} -> "
        f"{real['train_loss_last']:.3g}) but scores {real['held_out_acc']:.0%} on {len(hy)} later examples: chance is "
        f"{p:.0%} (+ margin {margin:.0%}); with permuted labels {permuted['held_out_acc']:.0%}",
        "", score=0.8, facts={"held_out_acc": real["held_out_acc"], "chance": p, "margin": margin,
                              "sequence_targets": not kit.per_example})]
