"""What every kind of run has, and the preflight probes on it: a :class:`Kit` is a model to copy,
an optimizer to rebuild from its class and param_groups, a loss function and a few batches.

A watched script (:mod:`babysitter.doctor.watch`) and a Lightning run
(:mod:`babysitter.integrations.lightning`) build their kit from torch's hooks; every probe works on
deep copies and restores torch's RNG, so the run itself cannot tell it was probed.

=================  ===================================================================================
probe              measures (on copies of the model at init and the first batches seen)
=================  ===================================================================================
input_scale        mean, std over all entries of the batches' inputs -> ``data_not_normalized``
                   (:func:`probes._normalization_findings`'s thresholds: std > 5 or < 0.2, |mean| > 2 std)
init_loss          the loss at init on the batches (train mode, no_grad) vs ln C -> ``init_loss_off``
                   (:func:`probes.init_loss_findings`)
init_gradients     per-layer gradient norms of one backward at init -> vanishing/exploding_gradients
overfit_tiny       20 examples, full batch, the run's optimizer at its lr, <= 300 steps -> train_acc
lr_range           the range test (1e-6 .. 10 over 100 steps, :func:`probes.read_curve`) -> lr band
labels_look_random train a copy on the first batches, score it on later ones: accuracy vs chance
unshuffled_data    distinct labels per batch vs what shuffled batches hold: ``C (1 - (1 - 1/C)^B)``
=================  ===================================================================================
Class-based probes (init_loss vs ln C, overfit_tiny, labels, shuffling) run only for a cross-entropy
or NLL loss with integer targets; a regression (MSE, ...) gets the others, and no class finding.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch
from torch import nn

from babysitter.doctor import probes as spec_probes
from babysitter.doctor.findings import Finding, json_safe
from babysitter.doctor.instruments import weighted_layers



@dataclass
class Kit:
    """``model``: a copy at init (never trained by a probe: each probe copies it again);
    ``optimizer_class`` + ``groups``: the optimizer's hyperparameters per param group, each with
    ``params`` as indices into ``list(model.parameters())``; ``loss_fn(output, y) -> 0-dim``;
    ``batches``: ``[(x, y)]`` in the order the run saw them; ``loss_name``: e.g. "cross_entropy";
    ``num_classes``: C for a classification loss, else None."""

    model: nn.Module
    optimizer_class: type
    groups: list[dict]
    loss_fn: Callable
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    loss_name: str = "unknown"
    num_classes: int | None = None
    notes: list[str] = field(default_factory=list)
    labels_lr: float | None = None      # the lr of labels_look_random's copies (None: the run's)

    @classmethod
    def from_run(cls, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn, batches, loss_name="unknown",
                 num_classes=None, copied: nn.Module | None = None) -> "Kit":
        """Copy ``model`` (call it before the first step, or pass ``copied``, a copy made then) and
        read ``optimizer``'s param_groups: parameters outside ``model`` are dropped (a copy of them
        could never be trained)."""
        index = {id(p): i for i, p in enumerate(model.parameters())}
        groups = []
        for g in optimizer.param_groups:
            ids = [index[id(p)] for p in g["params"] if id(p) in index]
            if ids:
                groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        return cls(copied if copied is not None else copy.deepcopy(model), type(optimizer), groups, loss_fn,
                   [(x.detach().clone(), y.detach().clone()) for x, y in batches], loss_name, num_classes)

    @property
    def classification(self) -> bool:
        return self.num_classes is not None and self.num_classes >= 2

    @property
    def lr(self) -> float | None:
        return float(self.groups[0]["lr"]) if self.groups and "lr" in self.groups[0] else None

    def fresh(self, lr: float | None = None) -> tuple[nn.Module, torch.optim.Optimizer]:
        """A new copy of the model at init and a new optimizer of the run's class on it."""
        model = copy.deepcopy(self.model)
        params = list(model.parameters())
        groups = [{**g, "params": [params[i] for i in g["params"]]} for g in self.groups]
        if not groups:  # the run's optimizer holds none of the model's parameters: train them all
            groups = [{"params": [p for p in params if p.requires_grad]}]
        if lr is not None:
            for g in groups:
                g["lr"] = lr
        for g in groups:
            g.pop("initial_lr", None)   # an lr scheduler's key; a new optimizer rejects nothing, but it is stale
        return model, self.optimizer_class(groups, **({"lr": groups[0]["lr"]} if "lr" in groups[0] else {}))

    def xy(self, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``k`` batches (all when None) concatenated: ``x: (N, ...)``, ``y: (N, ...)``."""
        b = self.batches[:k] if k else self.batches
        return torch.cat([x for x, _ in b]), torch.cat([y for _, y in b])


def _step(model, opt, loss_fn, x, y) -> float:
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        model.eval()
        acc = float((model(x).argmax(1) == y).float().mean())
        model.train()
    return acc


def probe_input_scale(kit: Kit) -> tuple[dict, list[Finding]]:
    x, _ = kit.xy()
    x = x.float()
    mean, std = float(x.mean()), float(x.std())
    shim = SimpleNamespace(data=SimpleNamespace(preprocess=[]))
    found = spec_probes._normalization_findings(shim, mean, std)
    for f in found:
        f.advice = ("standardize the inputs: x = (x - mean) / std with the training set's mean and std "
                    "(e.g. transforms.Normalize(mean, std), or StandardScaler fitted on train)")
    return {"input_scale": {"mean": mean, "std": std, "min": float(x.min()), "max": float(x.max())}}, found


def probe_init_loss(kit: Kit) -> tuple[dict, list[Finding]]:
    x, y = kit.xy()
    model = copy.deepcopy(kit.model).train()
    with torch.no_grad():
        out = model(x)
        loss, score_std = float(kit.loss_fn(out, y)), float(out.float().std())
    numbers = {"init_loss": json_safe(loss), "expected_init_loss": math.log(kit.num_classes) if kit.classification else None}
    if not kit.classification:
        return numbers, []
    advice = ("scale the last layer's initial weights down (e.g. nn.init.normal_(last.weight, std=1e-2); "
              "nn.init.zeros_(last.bias)), or use nn.init.kaiming_normal_ for ReLU layers")
    return numbers, spec_probes.init_loss_findings(loss, score_std, kit.num_classes, advice)


def probe_init_gradients(kit: Kit) -> tuple[dict, list[Finding]]:
    x, y = kit.xy(1)
    model = copy.deepcopy(kit.model).train()
    layers = weighted_layers(model)
    if len(layers) < 2:
        return {"init_grad_norms": None}, []
    kit.loss_fn(model(x), y).backward()
    norms = {n: float(w.grad.norm()) if w.grad is not None else 0.0 for n, w in layers}
    advice = ("initialise with nn.init.kaiming_normal_ (ReLU) or nn.init.xavier_normal_ (tanh), "
              "or add nn.BatchNorm1d/2d after the layers")
    numbers, found = spec_probes.init_gradient_findings(
        norms, [n for n, _ in layers], advice, advice + "; clip: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)")
    last_name, last_w = layers[-1]
    # a gradient that is there and exactly 0 (None: the loss does not reach the layer, another fault)
    if last_w.grad is not None and norms[last_name] == 0.0 and float(last_w.detach().norm()) > 0:
        found = [dead_units_finding(last_name)] + found   # explain_run makes the zero gradients its symptoms
    return numbers, found


def dead_units_finding(last: str) -> Finding:
    """The last layer's weight gradient dL/dW = delta^T h (delta = dL/d(output), h its inputs) is
    exactly 0 with nonzero weights only when h = 0 for every example: the hidden units feeding it
    are all off (dead ReLUs, e.g. a negative bias), so no layer below gets a gradient either."""
    return Finding("dead_relu", "warning",
                   f"the last layer {last} has nonzero weights yet a weight gradient of exactly 0 at init: its inputs "
                   "(the last hidden activations) are 0 for every example, the ReLU units are dead",
                   "do not shift the biases negative (nn.init.zeros_(layer.bias)); nn.init.kaiming_normal_; "
                   "nn.LeakyReLU instead of ReLU", layer=last, score=1.0)


def probe_overfit_tiny(kit: Kit, examples: int = 20, steps: int = 300) -> tuple[dict, list[Finding]]:
    if not kit.classification:
        return {}, []
    x, y = kit.xy()
    x, y = x[:examples], y[:examples]
    model, opt = kit.fresh()
    model.train()
    acc, t, loss = 0.0, 0, math.nan
    for t in range(1, steps + 1):
        loss = _step(model, opt, kit.loss_fn, x, y)
        if not math.isfinite(loss):
            break
        if t % 10 == 0:
            with torch.no_grad():
                acc = float((model(x).argmax(1) == y).float().mean())
            if acc == 1.0:
                break
    numbers = {"overfit_tiny": {"examples": len(x), "steps": t, "train_acc": acc, "loss": json_safe(loss),
                                "lr": kit.lr, "optimizer": kit.optimizer_class.__name__}}
    if acc >= 1.0:
        return numbers, []
    return numbers, [Finding("cannot_overfit_tiny", "error",
                             f"{t} steps on {len(x)} examples reach train accuracy {acc:.0%}, loss {loss:.4g} "
                             f"({kit.optimizer_class.__name__}, lr {kit.lr})",
                             "the model cannot memorise 20 examples: check the lr (see lr_range), the loss's "
                             "inputs, and that the optimizer holds the model's parameters", score=1 - acc)]


def probe_lr_range(kit: Kit) -> tuple[dict, list[Finding]]:
    x, y = kit.xy()
    lrs = np.geomspace(*spec_probes.SWEEP_LRS, spec_probes.SWEEP_STEPS)
    model, opt = kit.fresh()
    model.train()
    n, bs = len(x), min(len(x), len(kit.batches[0][0]))
    gen = torch.Generator().manual_seed(0)
    order, pos, losses, best = torch.randperm(n, generator=gen), 0, [], math.inf
    for lr in lrs:
        if pos + bs > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + bs].to(x.device)
        pos += bs
        for g in opt.param_groups:
            g["lr"] = float(lr)
        loss = _step(model, opt, kit.loss_fn, x[idx], y[idx])
        if not math.isfinite(loss):
            break
        losses.append(loss)
        best = min(best, float(np.median(losses[-spec_probes.WINDOW:])))
        if float(np.median(losses[-spec_probes.WINDOW:])) > spec_probes.DIVERGED * best:
            break
    marks = spec_probes.read_curve(lrs, losses)
    band = {"suggested": None, "low": None, "high": None}
    if marks:
        band = {"suggested": marks["minimum"] / 10, "low": marks["low"], "high": marks["minimum"]}
    numbers = {"lr_range": {**band, "steps": len(losses)}}
    if kit.lr is None or not marks:
        return numbers, []
    shim = SimpleNamespace(optim=SimpleNamespace(lr=kit.lr, name=kit.optimizer_class.__name__),
                           schedule=SimpleNamespace(name="constant"))
    found = spec_probes._lr_findings(shim, band)
    for f in found:
        f.evidence = f.evidence.replace("optim.lr", "the optimizer's lr")
        suggested = float(f"{band['suggested']:.2g}")
        f.advice = f"torch.optim.{kit.optimizer_class.__name__}(..., lr={kit.lr:g}) -> lr={suggested:g}"
    return numbers, found


def expected_distinct(c: int, b: int) -> float:
    """Distinct labels expected in a batch of ``b`` drawn from ``c`` equally frequent classes."""
    return c * (1 - (1 - 1 / c) ** b)


def probe_shuffling(kit: Kit) -> tuple[dict, list[Finding]]:
    """``unshuffled_data``: warning when the first batches hold on average <= max(1.5, 0.3 E)
    distinct labels, E = :func:`expected_distinct` (C, B), and E >= 3."""
    if not kit.classification or len(kit.batches) < 2:
        return {}, []
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
                             "shuffle the training data every epoch: DataLoader(..., shuffle=True), "
                             "or index with torch.randperm(N) each epoch", score=min(1.0, 1 - mean / e + 0.3))]


LABELS_STEPS = 150


def probe_labels(kit: Kit, steps: int = LABELS_STEPS) -> tuple[dict, list[Finding]]:
    """Do the labels carry signal? Train a copy on all batches but the last quarter (at the run's
    optimizer and lr) and score it on the held-out quarter; the same with the training labels
    permuted. ``labels_look_random``: warning when the copy learnt (its training loss fell by
    > 20 %) but scores <= chance + max(0.1, 3 sqrt(p (1 - p) / n)) held out, p = 1/C. Skipped
    when the batches look unshuffled (later batches hold other classes) or fewer than 4 batches."""
    if not kit.classification or len(kit.batches) < 4:
        return {}, []
    k = len(kit.batches) - max(1, len(kit.batches) // 4)
    x, y = kit.xy(k)
    hx = torch.cat([b[0] for b in kit.batches[k:]])
    hy = torch.cat([b[1] for b in kit.batches[k:]])
    # a small data set wraps into its next epoch within the batches seen: held out means never trained on
    seen = torch.cdist(hx.flatten(1).float(), x.flatten(1).float()).amin(1) <= 1e-6
    hx, hy = hx[~seen], hy[~seen]
    if len(hy) < 8:
        return {"labels": {"skipped": f"{len(hy)} later examples not among the first batches"}}, []
    result = {}
    for name, labels in (("real", y), ("permuted", y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))])):
        model, opt = kit.fresh(kit.labels_lr)
        model.train()
        bs = len(kit.batches[0][0])
        losses = []
        for t in range(steps):
            i = (t * bs) % max(len(x) - bs + 1, 1)
            losses.append(_step(model, opt, kit.loss_fn, x[i:i + bs], labels[i:i + bs]))
        first, last = np.mean(losses[:10]), np.mean(losses[-10:])
        result[name] = {"held_out_acc": _accuracy(model, hx, hy), "train_loss_first": json_safe(float(first)),
                        "train_loss_last": json_safe(float(last))}
    p = 1 / kit.num_classes
    margin = max(0.1, 3 * math.sqrt(p * (1 - p) / len(hy)))
    real = result["real"]
    learnt = (math.isfinite(real["train_loss_first"] or math.nan) and math.isfinite(real["train_loss_last"] or math.nan)
              and real["train_loss_last"] < 0.8 * min(real["train_loss_first"], math.log(kit.num_classes)))
    numbers = {"labels": {**result, "chance": p, "margin": margin, "held_out": len(hy), "trained_on": len(y)}}
    if not learnt or real["held_out_acc"] > p + margin:
        return numbers, []
    return numbers, [Finding(
        "labels_look_random", "warning",
        f"a copy trained {steps} steps on the first {len(y)} examples fits them (loss {real['train_loss_first']:.3g} -> "
        f"{real['train_loss_last']:.3g}) but scores {real['held_out_acc']:.0%} on {len(hy)} later examples: chance is "
        f"{p:.0%} (+ margin {margin:.0%}); with permuted labels {result['permuted']['held_out_acc']:.0%}",
        "the labels do not follow the inputs: check that x and y are indexed/shuffled together "
        "(one permutation for both, or a TensorDataset), and the label column", score=0.8)]


PROBES = (("input_scale", probe_input_scale), ("init_loss", probe_init_loss),
          ("init_gradients", probe_init_gradients), ("batch_labels", probe_shuffling),
          ("lr_range", probe_lr_range), ("labels", probe_labels), ("overfit_tiny", probe_overfit_tiny))


def run_kit_probes(kit: Kit, budget: float = 30.0) -> tuple[dict, list[Finding]]:
    """Every probe in :data:`PROBES` while ``budget`` seconds last, on copies, with torch's CPU (and
    CUDA) RNG restored afterwards. A probe that fails is recorded under ``probes["errors"]``:
    the run being watched must never fail because of the doctor."""
    probes, found, seconds, errors = {}, [], {}, {}
    t0 = time.perf_counter()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    unshuffled = False
    with torch.random.fork_rng(devices=devices), torch.enable_grad():
        for name, probe in PROBES:
            if time.perf_counter() - t0 > budget:
                probes.setdefault("skipped", []).append(name)
                continue
            if name == "labels" and unshuffled:
                continue   # later batches hold other classes: held-out accuracy would say nothing
            t = time.perf_counter()
            try:
                numbers, f = probe(kit)
            except Exception as e:  # noqa: BLE001 - a probe's failure is reported, never raised into the script
                errors[name] = f"{type(e).__name__}: {e}"
                continue
            finally:
                seconds[name] = round(time.perf_counter() - t, 3)
            probes.update(numbers)
            found += f
            unshuffled = unshuffled or any(x.id == "unshuffled_data" for x in f)
            if any(x.id == "lr_too_high" for x in f):   # labels_look_random asks about the labels, not the lr
                kit.labels_lr = probes["lr_range"]["suggested"]
    probes["seconds"] = seconds
    if errors:
        probes["errors"] = errors
    return probes, found
