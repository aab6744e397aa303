"""Linear classifiers on features from several stages (CS231n, Transfer learning: with very
little data, "train a linear classifier from activations somewhere earlier in the network").

Stage features of ``x: (N, ...)`` are the inputs of every block after the first -- the output
of each stage after its activation and pooling -- plus the head's input, in eval mode. A map
``a: (N, C, H, W)`` gives its global average ``(N, C)`` and its 2x2 average pool ``(N, 4C)``
(a sequence ``(N, C, L)``: ``(N, C)`` and ``(N, 2C)``);
a vector ``(N, D)`` is kept. All are concatenated to ``F: (N, sum D_l)``.

The classifier is multinomial logistic regression on standardised features (train-set mean
and std), the L2 strength chosen without the test set: ``C`` in ``grid`` by stratified k-fold
cross-validation on the target's own training examples (k = min(5, smallest class count)):

    W* = argmin_W  sum_n -log softmax(W f_n + b)[y_n] + ||W||^2 / (2 C)
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.data import Dataset
from babysitter.errors import BadInput
from babysitter.transfer.freeze import blocks, layer_inputs

GRID = (0.001, 0.01, 0.1, 1.0)


def stage_features(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """``(N, D)``: every stage's output (block inputs after the first, and the head's input), pooled as above."""
    starts = [model.get_submodule(parts[0][0]) for _, parts in blocks(model)[1:]]
    out = []
    for caught in layer_inputs(model, starts, x, batch):
        parts = []
        for _, a in caught:
            if a.dim() in (3, 4):  # (N, C, L) or (N, C, H, W): global and 2(x2) average pools
                pool = F.adaptive_avg_pool1d if a.dim() == 3 else F.adaptive_avg_pool2d
                parts += [a.mean(tuple(range(2, a.dim()))), pool(a, 2).flatten(1)]
            else:
                parts.append(a.flatten(1))
        out.append(torch.cat(parts, 1))
    return torch.cat(out)


def stage_probe(model: nn.Module, data: Dataset, seed: int = 0, grid=GRID) -> dict:
    """Fit the stage-feature linear classifier on ``data``'s training split; returns
    ``{"test_acc", "val_acc" (None without a validation split), "C", "cv_acc", "features", "train_seconds"}``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    y = data.y_train.numpy()
    k = int(min(5, np.bincount(y).min()))
    if k < 2:
        raise BadInput("transfer: the stage probe needs at least 2 training examples of every class")
    f = stage_features(model, data.x_train).double().numpy()

    def clf(c):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))

    folds = StratifiedKFold(k, shuffle=True, random_state=seed)
    scores = {c: float(cross_val_score(clf(c), f, y, cv=folds).mean()) for c in grid}
    best = max(grid, key=lambda c: (scores[c], -c))  # ties: the stronger penalty
    fitted = clf(best).fit(f, y)

    def acc(x, yy):
        return None if len(yy) == 0 else float(fitted.score(stage_features(model, x).double().numpy(), yy.numpy()))

    return {"test_acc": acc(data.x_test, data.y_test), "val_acc": acc(data.x_val, data.y_val), "C": best,
            "cv_acc": round(scores[best], 4), "features": f.shape[1],
            "train_seconds": round(time.perf_counter() - t0, 2)}
