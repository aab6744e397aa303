"""The run's other optimizers (a GAN's: the discriminator's Adam and the generator's): each optimizer's
parameters map to their own model, and each optimizer's step is judged by the lecture's measure of its
learning rate, the update/weight ratio ``||W_after - W_before|| / ||W_before||`` (target ~1e-3).

The watch follows the optimizer that steps first (the run's: its model, losses, probes); another one is
an :class:`OtherOptimizer`. When another optimizer steps on a loss of its own (one seen since the run's
optimizer last stepped: a generator's loss, not the discriminator's), the run is *adversarial*: its
losses are moves in a game (a generator's loss rises as its discriminator gets better, and that is
not divergence), so the loss curve's judges do not apply to them (:func:`curve_does_not_apply`).
"""

from __future__ import annotations

from types import SimpleNamespace

from torch import nn

from babysitter.doctor.findings import Finding
from babysitter.doctor.instruments import UpdateRatio
from babysitter.doctor.readers.instruments import update_ratio_findings
from babysitter.doctor.watch.compiled import inner


class HeldRatio(UpdateRatio):
    """The update/weight ratio of the layers whose weight this optimizer holds (another optimizer may step
    the rest of the same model: their ratio is that one's)."""

    def __init__(self, every: int, held: set[int]):
        super().__init__(every)
        self.held = held

    def before_fit(self, trainer):
        super().before_fit(trainer)
        self.layers = [(n, w) for n, w in self.layers if id(w) in self.held]
        self.names = [n for n, _ in self.layers]
        self._snapshot(trainer)


class OtherOptimizer:
    """Another optimizer of the run and its model: the root module (called at depth 0 in forward)
    holding most of its parameters. A host of one :class:`UpdateRatio` (``model``, ``step``)."""

    def __init__(self, optimizer, roots, every: int):
        self.optimizer = optimizer
        params = [p for g in optimizer.param_groups for p in g["params"]]
        held = {id(p) for p in params}
        scored = [(sum(id(p) in held for p in r.parameters()), i, r) for i, r in enumerate(roots)]
        count, _, root = max(scored, key=lambda s: (s[0], -s[1]), default=(0, 0, None))
        self.model = inner(root) if count else nn.ParameterList(params)
        self.name = type(self.model).__name__
        self.lr = float(optimizer.param_groups[0].get("lr", 0.0) or 0.0)
        self.step, self.own_loss = 0, False
        self.ratio = HeldRatio(every, held)
        self.ratio.before_fit(self)

    def after_step(self) -> None:
        self.step += 1
        self.ratio.after_step(self)

    def findings(self, spec) -> list[Finding]:
        """lr_too_high / lr_too_low of this optimizer, from its model's update/weight ratio."""
        self.ratio.after_fit(self)
        g = self.optimizer.param_groups[0]
        own = SimpleNamespace(**{**vars(spec), "optim": SimpleNamespace(
            **{**vars(spec.optim), "lr": self.lr, "weight_decay": float(g.get("weight_decay") or 0.0)})})
        found = update_ratio_findings(self.ratio.summary(), own)
        opt = type(self.optimizer).__name__
        for f in found:
            f.layer = self.name
            f.evidence = f"{self.name}, stepped by its own {opt} (lr {self.lr:g}): {f.evidence}"
            f.facts.update({"model": self.name, "optimizer": opt})
        return found


def adversarial(others) -> bool:
    """Another optimizer stepped on a loss of its own (two models trained against each other)."""
    return any(o.own_loss for o in others)


def curve_does_not_apply(curve: list[Finding]) -> list[Finding]:
    """The loss curve's findings of an adversarial run, as info: the losses seen are two players'."""
    for f in curve:
        if f.severity != "info":
            f.adjust(-0.3, "two models are trained against each other, each by its own optimizer (a GAN): their "
                     "losses are a game's, which need not fall; each optimizer's update/weight ratio judges its lr",
                     severity="info")
        f.facts["adversarial"] = True
    return curve
