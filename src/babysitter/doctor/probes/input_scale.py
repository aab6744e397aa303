"""What a model's inputs are, before any check of their scale asks whether it applies.

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

import torch
from torch import nn

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
