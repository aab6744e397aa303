"""The doctor's in-run instruments (CS231n "Babysitting the learning process"; Karpathy, "A recipe
for training neural networks"): trainer callbacks that read the run every ``every`` steps.

A step is *due* when its 0-based index ``s`` (``trainer.step`` before the step) has
``s % every == 0``: steps 0, every, 2*every, ... Recorded steps are 1-based (``trainer.step``
after the step, as in metrics.jsonl). On a step that is not due an instrument does nothing but an
integer test (the forward hooks exist only during due steps). On a due step it computes on the device; the
numbers stay there until they are read (``settle()``: by ``summary()``, by ``state_dict()`` -- a
checkpoint -- or at an epoch's end once SETTLE_AFTER due steps wait) -- one transfer for all of them.
``NonFinite`` alone reads the loss on due steps (one scalar).

=================  ============================================================  ==================
instrument         records on a due step (per Linear/Conv layer or activation)  hook
=================  ============================================================  ==================
UpdateRatio        ||W_after - W_before|| / ||W_before|| of the step             after_step
GradNorms          ||dL/dW||_2 (before clipping)                                 after_backward
Activations        mean, std, saturated fraction; ReLU units never positive     forward hooks
                   over the last ``window`` due batches (dead fraction)
SymmetricWeights   fraction of units whose incoming weights equal another's     after_step
NonFinite          the loss is finite, else ``trainer.stop_reason`` (run fails)  after_step
LossTrace          every step: the loss into a device buffer; per window of      after_step
                   ``every`` steps: mean, std, detrended std (noise), slope
RegShare           penalty / (loss + penalty), penalty = regularize.* + the       after_step
                   optimizer's coupled weight decay (wd/2 ||p||^2)
=================  ============================================================  ==================

The instruments measure only: :func:`babysitter.doctor.readers.instruments.findings` turns their
summaries into :class:`Finding` s (its thresholds are in its docstring). Each instrument's
``summary()`` is JSON-able (non-finite numbers become None, counted in ``non_finite``) and
``state_dict()`` holds plain python, so a resumed run keeps its record.
"""

from __future__ import annotations

from babysitter.doctor.instruments.activations import Activations
from babysitter.doctor.instruments.base import (RELU, RELU_LIKE, SATURATING, Instrument, Series, activation_kind,
                                                weighted_layers)
from babysitter.doctor.instruments.grad_norms import GradNorms
from babysitter.doctor.instruments.loss_trace import LossTrace
from babysitter.doctor.instruments.non_finite import NonFinite
from babysitter.doctor.instruments.reg_share import RegShare
from babysitter.doctor.instruments.symmetric import SymmetricWeights, duplicate_fraction
from babysitter.doctor.instruments.update_ratio import UpdateRatio
from babysitter.train.events import Callback

__all__ = [  # the package's face: the instruments and their base
    "Activations", "GradNorms", "LossTrace", "NonFinite", "RegShare", "SymmetricWeights", "UpdateRatio",
    "Instrument", "Series", "RELU", "RELU_LIKE", "SATURATING", "activation_kind", "weighted_layers",
    "duplicate_fraction", "make_instruments", "summaries"]


def make_instruments(spec=None, every: int | None = None) -> list[Callback]:
    """All in-run instruments at the spec's cadence (``doctor.every``), or at ``every`` (a watched
    script or a Lightning run, which have no spec)."""
    every = every if every is not None else spec.doctor.every
    return [NonFinite(every), LossTrace(every), UpdateRatio(every), GradNorms(every),
            Activations(every), SymmetricWeights(every), RegShare(every)]


def summaries(callbacks) -> dict[str, dict]:
    """``{class name: summary()}`` of the instruments among ``callbacks``."""
    return {type(cb).__name__: cb.summary() for cb in callbacks if isinstance(cb, Instrument)}
