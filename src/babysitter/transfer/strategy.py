"""Transfer strategies and the lecture's 2x2 table, with the similarity measured (CS231n, Transfer learning).

                     very similar dataset          very different dataset
    very little data linear classifier on top      in trouble: try linear classifiers
                     (linear_probe)                from different stages (linear_probe)
    quite a lot      fine-tune a few layers        fine-tune a larger number of layers
                     (finetune_top)                (finetune_all)

"Little data": fewer than ``transfer.small_per_class`` training examples in the target's
smallest class. "Similar": measured, not guessed, without the labels -- a feature-statistics
distance between the target and the source at every batch-norm layer l, whose running
statistics (mu_s, var_s) per channel c summarise the source data at that depth; (mu_t, var_t)
are the same layer's input statistics on the target's training inputs (over N and positions):

    KL(a || b) = 1/2 (log(var_b / var_a) + (var_a + (mu_a - mu_b)^2) / var_b - 1)
    D_l = mean_c 1/2 (KL(t || s) + KL(s || t))
    distance = mean_l D_l                                  similar iff distance <= similar_distance

A model without batch norm has no source statistics; then the measure is a linear probe (ridge
classifier on standardised features, repeated stratified k-fold on the target's training
examples) on the pretrained features against the same probe on randomly initialised copies:

    gain = acc_probe(pretrained features) - acc_probe(random features)     similar iff gain >= similar_gain

Both are reported when both can be measured. The random copies control for the architecture:
what is left is what pretraining contributes. Pretrained layers then learn at ``lr * backbone_lr_ratio`` (about 1/10, the lecture's advice).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from babysitter.errors import BadInput
from babysitter.train.events import Callback
from babysitter.transfer.freeze import block_names, head_linear, layer_inputs, set_frozen

STRATEGIES = ("linear_probe", "finetune_top", "finetune_all")
TABLE = {  # (little data, similar) -> the lecture's cell
    (True, True): ("linear_probe", "a linear classifier on top of the frozen pretrained features"),
    (True, False): ("linear_probe", "in trouble: the lecture tries linear classifiers on the features "
                                    "(a deeper net would overfit the few examples)"),
    (False, True): ("finetune_top", "fine-tune a few top layers; the lower, generic features stay"),
    (False, False): ("finetune_all", "fine-tune a larger number of layers: the source features fit "
                                     "the target poorly and there is data enough to change them"),
}


def apply_strategy(model: nn.Module, strategy: str, top_k: int = 1, freeze=()) -> list[str]:
    """Freeze the blocks ``strategy`` keeps fixed (plus the named ``freeze``); returns the frozen names.

    linear_probe: every block but the head; finetune_top: all but the head and the ``top_k``
    blocks below it; finetune_all: none.
    """
    if strategy not in STRATEGIES:
        raise BadInput(f"transfer: unknown strategy '{strategy}'; valid: {', '.join((*STRATEGIES, 'auto'))}")
    names = block_names(model)
    keep = {"linear_probe": 1, "finetune_top": 1 + top_k, "finetune_all": len(names)}[strategy]
    frozen = names[:max(0, len(names) - keep)]
    frozen += [n for n in freeze if n not in frozen]
    set_frozen(model, frozen)
    return [n for n in names if n in frozen]


def features(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """The head's input for ``x: (N, ...)`` in eval mode: ``(N, D)`` penultimate features."""
    _, head = head_linear(model)
    return torch.cat([a.flatten(1) for caught in layer_inputs(model, [head], x, batch) for _, a in caught])


def random_copy(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """The same architecture, re-initialised (each module's ``reset_parameters``), its batch-norm
    running statistics set from ``x`` (one cumulative pass) so eval-mode features are normalised."""
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if hasattr(m, "reset_parameters") and m is not twin:
            m.reset_parameters()
    norms = [m for m in twin.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass gives the exact statistics
    if norms:
        twin.train()
        with torch.no_grad():
            twin(x)
    return twin.eval()


def probe_accuracy(feats: torch.Tensor, y: torch.Tensor, seed: int = 0, repeats: int = 3) -> float:
    """Cross-validated accuracy of a linear classifier on standardised ``feats: (N, D)``: ridge
    regression onto one-hot targets, ``W = argmin ||X W - Y||^2 + ||W||^2`` (closed form, so it is
    fast and deterministic), predicting ``argmax x W``; k = min(5, smallest class count)
    stratified folds, repeated ``repeats`` times with reshuffling."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = y.numpy()
    k = int(min(5, np.bincount(y).min()))
    if k < 2:
        raise BadInput("transfer: auto needs at least 2 training examples of every target class to measure similarity")
    clf = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1.0))
    folds = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    return float(cross_val_score(clf, feats.double().numpy(), y, cv=folds).mean())


def balanced_slice(y: torch.Tensor, per_class: int) -> torch.Tensor:
    """Indices of the first ``per_class`` examples of each class (the probe's slice)."""
    keep = torch.zeros(len(y), dtype=torch.bool)
    for c in y.unique():
        keep[torch.nonzero(y == c).flatten()[:per_class]] = True
    return torch.nonzero(keep).flatten()


@torch.no_grad()
def feature_distance(model: nn.Module, x: torch.Tensor) -> float | None:
    """The mean over batch-norm layers of the symmetric KL between the target's per-channel
    Gaussian ``N(mu_t, var_t)`` of the layer's input (``x: (N, ...)`` in eval mode) and the
    source's ``N(running_mean, running_var)``; None if the model keeps no running statistics."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None]
    if not norms:
        return None
    layers = []
    for m, a in layer_inputs(model, norms, x, batch=len(x))[0]:
        dims = [0, *range(2, a.dim())]
        mu_t, var_t = a.mean(dims), a.var(dims, unbiased=False) + m.eps
        mu_s, var_s = m.running_mean, m.running_var + m.eps
        kl_ts = 0.5 * (torch.log(var_s / var_t) + (var_t + (mu_t - mu_s) ** 2) / var_s - 1)
        kl_st = 0.5 * (torch.log(var_t / var_s) + (var_s + (mu_t - mu_s) ** 2) / var_t - 1)
        layers.append(((kl_ts + kl_st) / 2).mean().item())
    return float(np.mean(layers))


def similarity(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0, max_per_class: int = 100,
               random_copies: int = 3) -> dict:
    """``{"distance", "probe_acc_pretrained", "probe_acc_random", "gain", "examples"}`` on at most
    ``max_per_class`` target training examples per class (distance None without batch norm); the
    random baseline is the mean over ``random_copies`` re-initialised copies (seeds seed, seed+1, ...)."""
    idx = balanced_slice(y, max_per_class)
    x, y = x[idx], y[idx]
    distance = feature_distance(model, x)
    pretrained = probe_accuracy(features(model, x), y, seed)
    random = []
    for r in range(random_copies):
        torch.manual_seed(seed + r)
        random.append(probe_accuracy(features(random_copy(model, x), x), y, seed))
    random = float(np.mean(random))
    return {"distance": None if distance is None else round(distance, 4), "probe_acc_pretrained": round(pretrained, 4),
            "probe_acc_random": round(random, 4), "gain": round(pretrained - random, 4), "examples": len(y)}


def choose(per_class: int, measured: dict, small_per_class: int = 100, similar_distance: float = 0.2,
           similar_gain: float = 0.05) -> dict:
    """The lecture's cell for a target with ``per_class`` examples in its smallest class and the
    ``measured`` similarity (the distance decides where there is one, else the probe's gain);
    returns ``{"strategy", "cell", "reason", "examples_per_class", ...measured}``."""
    little = per_class < small_per_class
    if measured.get("distance") is not None:
        similar = measured["distance"] <= similar_distance
        evidence = (f"feature-statistics distance to the source {measured['distance']:.3f} "
                    f"{'<=' if similar else '>'} {similar_distance} (transfer.similar_distance)")
    else:
        similar = measured["gain"] >= similar_gain
        evidence = (f"linear probe on pretrained features {measured['probe_acc_pretrained']:.3f} vs random features "
                    f"{measured['probe_acc_random']:.3f}: gain {measured['gain']:+.3f} {'>=' if similar else '<'} "
                    f"{similar_gain} (transfer.similar_gain)")
    strategy, advice = TABLE[(little, similar)]
    cell = f"{'little' if little else 'a lot of'} data, {'similar' if similar else 'different'}"
    reason = (f"{per_class} examples per class {'<' if little else '>='} {small_per_class} (transfer.small_per_class); "
              f"{evidence} -> {advice}")
    return {"strategy": strategy, "cell": cell, "reason": reason, "examples_per_class": per_class, **measured}


class Unfreeze(Callback):
    """Gradual unfreezing, a Trainer callback: at the start of epoch ``e`` (1-based) the blocks
    ``schedule[e]`` (a list of names, or "all") start to train. Their parameters already sit in
    the optimizer's backbone group (lr * backbone_lr_ratio), skipped while frozen."""

    def __init__(self, schedule: dict[int, list[str] | str]):
        self.schedule = dict(schedule)
        self.done: list[tuple[int, list[str]]] = []

    def before_epoch(self, trainer) -> None:
        names = self.schedule.get(trainer.epoch + 1)
        if names is None:
            return
        names = block_names(trainer.model) if names == "all" else list(names)
        set_frozen(trainer.model, names, frozen=False)
        self.done.append((trainer.epoch + 1, names))
