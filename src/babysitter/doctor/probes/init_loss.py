"""The init loss against ln C (CS231n, "Babysitting the learning process": look for the correct loss at
chance performance): with small weights the softmax gives 1/C to every class, so the cross entropy of a
fresh model is ``-ln(1/C) = ln C``. Run on a :class:`~babysitter.doctor.probes.kit.Kit`."""

from __future__ import annotations

import copy
import math

import torch

from babysitter.doctor import thresholds as T
from babysitter.doctor.findings import Finding, json_safe
from babysitter.doctor.probes.kit import Kit


def init_loss_findings(loss: float, score_std: float, num_classes: int) -> list[Finding]:
    """The init loss against ln C. With m = 0.5 + 0.1 ln C
    (C = 10: m = 0.73), ``init_loss_off``: warning when loss - ln C > 3m (C = 10: scores of std
    >~2.5, e.g. N(0, 1) weights); info when loss - ln C > m (scores of std >~1.2: He init without a
    small last layer gives ~1-1.5) or ln C - loss > m (better than chance untrained: pretrained, or
    a leak). ``loss_not_finite``: error when the loss is NaN/Inf at init."""
    expected = math.log(num_classes)
    if not math.isfinite(loss):
        return [Finding("loss_not_finite", "error", f"initial loss is {loss} (scores std {score_std})",
                        facts={"at_init": True, "non_finite": True}, score=1.0)]
    margin = T.init_loss_margin(num_classes)
    gap = loss - expected
    where = f"initial loss {loss:.4f} vs ln C = ln {num_classes} = {expected:.4f} (scores std {score_std:.3g})"
    if gap > margin:
        severity = "warning" if gap > 3 * margin else "info"
        return [Finding("init_loss_off", severity, where + f"; {gap:.3f} above (margins {margin:.3f}, "
                        f"{3 * margin:.3f})", facts={"at_init": True, "gap": gap, "margin": margin},
                        score=min(1.0, gap / (6 * margin)))]
    if -gap > margin:
        return [Finding("init_loss_off", "info", where + f"; {-gap:.3f} below chance (margin {margin:.3f})",
                        facts={"at_init": True, "gap": gap, "below_chance": True}, score=0.3)]
    return []


def probe_init_loss(kit: Kit) -> tuple[dict, list[Finding]]:
    """Loss at chance: with small weights, softmax gives 1/C to every class, loss = ln C. In TRAIN
    mode under no_grad: the loss the first training step sees (train-mode batch norm normalises
    with the batch statistics; eval mode would use the untouched running stats (0, 1))."""
    x, y = kit.xy()
    model = copy.deepcopy(kit.model).train()
    with torch.no_grad():
        out = kit.out(model, x, y)
        loss, score_std = float(kit.loss_fn(out, y)), float(out.float().std())
    if kit.summed:   # reduction='sum' (a watched script's): per scored row, as the watch's curve reads it
        from babysitter.doctor.watch.outputs import per_row

        loss = float(per_row(torch.tensor(loss), kit.loss_name, kit.targets(y) if kit.targets else y, kit.ignore_index))
    numbers = {"init_loss": json_safe(loss), "expected_init_loss": math.log(kit.num_classes) if kit.classification else None,
               "init_score_std": json_safe(score_std)}
    if not kit.classification:
        return numbers, []
    return numbers, init_loss_findings(loss, score_std, kit.num_classes)

