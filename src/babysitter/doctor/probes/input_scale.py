"""The inputs' scale (CS231n, "Data preprocessing": zero mean, unit variance), after what a model's
inputs are: a check of their scale asks first whether it applies.

The lecture's preprocessing (zero mean, unit variance) is about real-valued *features* entering the
first weighted layer. Other inputs are not features:

=============  =====================================================================  ===========
kind           what the batch ``x`` is                                                scale check
=============  =====================================================================  ===========
token_ids      an integer tensor and the model holds an ``nn.Embedding``/``EmbeddingBag``  no
               (indices into a table: nobody normalises them; the table is judged by
               its own statistics, the gradients and update ratios)
binary         floating values all in {0, 1} (one-hot, multi-hot, binarised pixels): a     no
               sparse one-hot row has std ~ sqrt(1/K) whatever is done to it
features       anything else (floats of any dtype; integers the model casts to float)     yes
=============  =====================================================================  ===========
"""

from __future__ import annotations

import math

import torch
from torch import nn

from babysitter.doctor import thresholds as T
from babysitter.doctor.findings import Finding
from babysitter.doctor.probes.kit import Kit

EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)


def input_kind(model: nn.Module | None, x: torch.Tensor) -> str:
    """``token_ids`` | ``binary`` | ``features`` for the batch ``x`` of ``model`` (table above)."""
    if not x.is_floating_point() and not x.is_complex():
        if x.dtype == torch.bool:
            return "binary"
        if model is not None and any(isinstance(m, EMBEDDINGS) for m in model.modules()):
            return "token_ids"
        return "features"
    if x.numel() and bool(((x == 0) | (x == 1)).all()):
        return "binary"
    return "features"


def scale_applies(kind: str) -> bool:
    return kind == "features"


def normalization_findings(mean: float, std: float) -> list[Finding]:
    """``data_not_normalized`` from the inputs' mean and std over all entries: warning when
    std > 5 or std < 0.2 (the scale is off) or |mean| > 2 std (an offset); info when
    0.5 std < |mean| <= 2 std (e.g. [0, 1] pixels)."""
    scale_off = std > T.INPUT_STD_HIGH or std < T.INPUT_STD_LOW
    offset = abs(mean) / max(std, 1e-12)
    if not scale_off and offset <= T.INPUT_OFFSET_INFO:
        return []
    severity = "warning" if scale_off or offset > T.INPUT_OFFSET_WARN else "info"
    score = max(min(1.0, abs(math.log10(max(std, 1e-12))) / 2), min(1.0, offset / 4))
    return [Finding("data_not_normalized", severity,
                    f"train inputs: mean {mean:.4g}, std {std:.4g} over all entries "
                    f"(|mean|/std = {offset:.2f}; expected mean ~0, std ~1)", facts={"mean": mean, "std": std},
                    score=score)]


def probe_input_scale(kit: Kit) -> tuple[dict, list[Finding]]:
    """The mean and std over all entries of the kit's inputs ``x: (N, ...)`` -> ``data_not_normalized``
    (:func:`normalization_findings`); skipped for token ids and binary inputs (:func:`input_kind`)."""
    x, _ = kit.xy()
    x = kit.inputs(x) if kit.inputs is not None else x
    kind = input_kind(kit.model, x)
    if not scale_applies(kind):   # indices into an embedding, one-hot rows: not features to standardise
        return {"input_scale": {"kind": kind, "skipped": f"the inputs are {kind.replace('_', ' ')}, not features"}}, []
    x = x.float()
    mean, std = float(x.mean()), float(x.std())
    found = normalization_findings(mean, std)
    return {"input_scale": {"mean": mean, "std": std, "min": float(x.min()), "max": float(x.max())}}, found

