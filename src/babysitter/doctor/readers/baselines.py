"""What the data itself allows, so that a curve judge asks whether it applies before it speaks.

The lecture's ``underfitting`` picture (train accuracy low, no gap to validation) was made for
classifications with one label per example, where a fixed bar (train acc 0.8, :mod:`curves`) is
reachable. Next-token targets are not: a character-level language model that has learnt its
data well may predict 40 % of the characters, and a short run less. For sequence targets the
run is compared with its own baseline instead:

================  =======================================================================
unigram loss      H(y) = -sum_c p_c ln p_c over the kit's targets (padding at ignore_index
                  left out): the cross entropy of a model that learnt only how often each
                  class occurs, and nothing from its inputs
underfitting      sequence targets: only when the train loss has plateaued at >= UNIGRAM_SHARE
                  x H(y) (it learnt no more than the label frequencies); one label per example:
                  curves' bar (train acc < 0.8)
labels_look_     sequence targets: the train loss fell >= LEARNT_SHARE of the way from its first
random           value to H(y) and plateaued there (>= UNIGRAM_SHARE H(y)): it learnt the label
                 frequencies and nothing from x (underfitting becomes its symptom, info)
================  =======================================================================
"""

from __future__ import annotations

import math

import torch

from babysitter.doctor.findings import Finding

from babysitter.doctor.thresholds import LEARNT_SHARE, UNIGRAM_SHARE


def unigram_loss(targets: list[torch.Tensor], ignore_index: int | None = None) -> float | None:
    """H(y) in nats over the integer ``targets`` (any shapes), or None when there are none."""
    ys = [t.reshape(-1) for t in targets if not t.is_floating_point()]
    if not ys:
        return None
    y = torch.cat(ys)
    if ignore_index is not None:
        y = y[y != ignore_index]
    if not len(y):
        return None
    p = torch.bincount(y.long().clamp_min(0)).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


def reconsider_underfitting(found: list[Finding], rows: list[dict], sequence: bool,
                            unigram: float | None) -> list[Finding]:
    """Drop ``underfitting`` (and the ``reg_too_strong`` that rides on it) from a sequence model's
    curve findings unless its train loss stayed at the unigram baseline; keep ``facts``."""
    if not sequence or not any(f.id == "underfitting" for f in found):
        return found
    losses = [r["train_loss"] for r in rows if r.get("train_loss") is not None and math.isfinite(r["train_loss"])]
    last = losses[-1] if losses else None
    if unigram is not None and last is not None and last >= UNIGRAM_SHARE * unigram:
        first = losses[0]
        learnt_frequencies = first - last >= LEARNT_SHARE * (first - unigram) and first > unigram
        for f in found:
            if f.id == "underfitting":
                f.facts.update({"train_loss": last, "unigram_loss": unigram, "first_loss": first,
                                "sequence_targets": True, "learnt_frequencies": learnt_frequencies})
                f.evidence += (f"; the train loss {last:.3g} is no lower than the unigram baseline H(y) = {unigram:.3g} "
                               "(what the label frequencies alone give)")
                if learnt_frequencies:   # its cause: the targets carry nothing the inputs predict
                    f.adjust(-0.2, "its cause: see labels_look_random", severity="info", cause="labels_look_random")
        if learnt_frequencies:
            found = found + [Finding(
                "labels_look_random", "warning",
                f"the train loss fell from {first:.3g} to the unigram baseline H(y) = {unigram:.3g} and stayed there "
                f"({last:.3g}): the model learnt how often each target occurs and nothing from its inputs",
                "", score=0.75,
                facts={"train_loss": last, "unigram_loss": unigram, "first_loss": first, "source": "run",
                       "sequence_targets": True})]
        return found
    return [f for f in found if f.id not in ("underfitting", "reg_too_strong")]
