"""Overfit a tiny subset (CS231n, "Babysitting the learning process": make sure you can overfit a very
small portion of the training data): 20 examples, full batch, the kit's own step at its lr. Run on a
:class:`~babysitter.doctor.probes.kit.Kit`."""

from __future__ import annotations

import math

import torch

from babysitter.doctor.findings import Finding, json_safe
from babysitter.doctor.probes.kit import Kit, on_device
from babysitter.doctor.thresholds import SEQUENCE_MEMORISED, TINY_EXAMPLES, TINY_STEPS


def probe_overfit_tiny(kit: Kit, examples: int = TINY_EXAMPLES, steps: int = TINY_STEPS,
                       lr: float | None = None) -> tuple[dict, list[Finding]]:
    """Train a copy on the first ``examples`` examples, full batch, with the kit's step at its lr (or ``lr``),
    until the step's own (train-mode) logits classify every one right (sequences: until the loss is
    below SEQUENCE_MEMORISED of the first, both above the loss's floor: label smoothing's) or ``steps`` updates pass;
    a model that cannot is broken or the lr is off. ``cannot_overfit_tiny``: error when train_acc < 1."""
    if not kit.classification:
        return {}, []
    x, y = kit.xy()
    model, _, step = kit.fresh(lr=lr)
    lr = lr if lr is not None else kit.lr
    x, y = on_device(model, x[:examples], y[:examples])
    model.train()
    first = math.nan
    for updates in range(1, steps + 1):
        loss, logits = step(x, y)                        # one update; logits from before it
        first = loss if updates == 1 else first
        seen = updates - 1 + kit.closure                 # the updates these logits saw (closure steps: after)
        acc = kit.correct(logits, y)
        if acc == 1.0 or _memorised(kit, loss, first) or not math.isfinite(loss):   # (reachable < 1: the budget runs out, then judged)
            break
    else:                                                # the budget ran out: read the final model
        with torch.no_grad():
            logits = kit.out(model, x, y)
        seen, loss = steps, float(kit.loss_fn(logits, y))
        acc = kit.correct(logits, y)
    numbers = {"overfit_tiny": {"examples": len(x), "steps": seen, "train_acc": acc, "final_loss": json_safe(loss),
                                "loss": json_safe(loss), "first_loss": json_safe(first), "lr": lr,
                                "optimizer": kit.optimizer_name}}
    # a sequence's first targets are ambiguous (20 texts may start alike): it must memorise, not be
    # perfect; its loss falling below SEQUENCE_MEMORISED of where it began says the net learns
    reachable = reachable_accuracy(x, kit.flat(y)) if kit.per_example else 1.0
    numbers["overfit_tiny"]["reachable_acc"] = reachable
    numbers["overfit_tiny"]["loss_floor"] = kit.floor
    if acc >= reachable - 1e-4 or _memorised(kit, loss, first):
        return numbers, []
    return numbers, [Finding("cannot_overfit_tiny", "error",
                             f"after {seen} steps on {len(x)} examples: train accuracy {acc:.0%}, loss {loss:.4g} "
                             f"({kit.optimizer_name}, lr {lr:.3g})", facts={"train_acc": acc, "steps": seen, "lr": lr},
                             score=1.0 - acc)]


def _memorised(kit: Kit, loss: float, first: float) -> bool:
    """Sequence targets: the loss fell below SEQUENCE_MEMORISED of where it began, both measured above the
    loss's floor (label smoothing's)."""
    return (not kit.per_example and math.isfinite(loss)
            and loss - kit.floor < SEQUENCE_MEMORISED * (first - kit.floor))


def slow_not_broken(kit: Kit, probes: dict, found: list[Finding]) -> list[Finding]:
    """cannot_overfit_tiny at an lr 3x or more below the range test's suggestion: a fresh copy tries
    again at the suggested lr. Memorising there says the model, its loss and the data learn, and the
    run's lr is slow for a TINY_STEPS-step check, not broken (a transformer at AdamW 4e-4, fine-tuning's
    5e-5): info, the attempt kept under ``overfit_tiny.at_suggested_lr``. Failing there too, the error stands."""
    tiny = next((f for f in found if f.id == "cannot_overfit_tiny" and f.severity == "error"), None)
    suggested = (probes.get("lr_range") or {}).get("suggested")
    if tiny is None or not suggested or not kit.lr or suggested < 3 * kit.lr:
        return found
    numbers, again = probe_overfit_tiny(kit, lr=suggested)
    probes["overfit_tiny"]["at_suggested_lr"] = numbers.get("overfit_tiny")
    if not again:
        tiny.adjust(-0.5, f"at the range test's suggested lr {suggested:.3g} a fresh copy memorises them in "
                    f"{numbers['overfit_tiny']['steps']} steps: the model and its loss learn, the run's lr is slow "
                    "for this check", severity="info")
        tiny.facts["memorised_at_lr"] = suggested
    return found


def reachable_accuracy(x: torch.Tensor, y: torch.Tensor) -> float:
    """The best train accuracy any model can reach on ``x: (N, ...)``, ``y: (N,)``: identical inputs
    with different labels (a context of 3 characters followed by different next ones) can only
    be given the majority label of their group."""
    if x.shape[0] != y.shape[0] or y.ndim != 1:
        return 1.0
    _, group = torch.unique(x.reshape(len(x), -1), dim=0, return_inverse=True)
    if int(group.max()) + 1 == len(x):
        return 1.0
    best = 0
    for g in group.unique():
        _, counts = torch.unique(y[group == g], return_counts=True)
        best += int(counts.max())
    return best / len(x)


def past_the_minimum(kit: Kit, probes: dict) -> bool:
    """Sequence targets, and the kit's lr beyond the lr where the range test's loss was lowest."""
    high = (probes.get("lr_range") or {}).get("high")
    return not kit.per_example and bool(high) and bool(kit.lr) and kit.lr > high


def lr_past_minimum(kit: Kit, probes: dict, found: list[Finding]) -> list[Finding]:
    """A sequence model that cannot memorise 20 sequences at the run's lr, an lr beyond the range
    test's minimum (warmup and clipping do not bound AdamW's step): ``lr_too_high`` (warning), and
    cannot_overfit_tiny becomes its symptom. Only for sequence targets: the constant-lr limit (3x
    the minimum, :func:`~babysitter.doctor.probes.lr_range.lr_findings`) stays as calibrated for the rest."""
    if not past_the_minimum(kit, probes) or any(f.id == "lr_too_high" for f in found):
        return []
    tiny = next((f for f in found if f.id == "cannot_overfit_tiny"), None)
    if tiny is None:
        return []
    high, suggested = probes["lr_range"]["high"], probes["lr_range"]["suggested"]
    tiny.adjust(0.0, "at an lr past the range test's minimum", cause="lr_too_high")
    return [Finding("lr_too_high", "warning",
                    f"{kit.LR_KEY} {kit.lr:.3g} is {kit.lr / high:.3g}x the lr where the range test's loss was lowest "
                    f"({high:.3g}), and a copy at it cannot memorise {TINY_EXAMPLES} sequences",
                    score=0.6, facts={"lr": kit.lr, "suggested": suggested, "range_minimum": high,
                                      "overfit_tiny_failed": True})]

