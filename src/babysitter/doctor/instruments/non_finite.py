"""NonFinite: stop the run on a NaN/Inf loss. (see :mod:`babysitter.doctor.instruments`)."""

from __future__ import annotations

import math

from babysitter.doctor.instruments.base import Instrument


class NonFinite(Instrument):
    """Stop the run when the loss is NaN/Inf: on due steps and on each epoch's last step it reads
    the loss (one scalar sync) and sets ``trainer.stop_reason = "loss_not_finite: ..."`` with the
    step and the last finite loss; the trainer then keeps the last good checkpoint and fails."""

    def __init__(self, every: int = 25):
        super().__init__(every)
        self.last_finite: tuple[int, float] | None = None
        self.stopped: dict | None = None

    def after_step(self, trainer):
        i = trainer.step - 1
        if not (self.due(i) or trainer.step % trainer.steps_per_epoch == 0) or self.stopped is not None:
            return
        loss = float(trainer.loss.detach())
        if math.isfinite(loss):
            self.last_finite = (trainer.step, loss)
            return
        last = (f"last finite loss {self.last_finite[1]:.4g} at step {self.last_finite[0]}"
                if self.last_finite else "no finite loss recorded before")
        self.stopped = {"step": trainer.step, "loss": str(loss),
                        "last_finite_step": self.last_finite[0] if self.last_finite else None,
                        "last_finite_loss": self.last_finite[1] if self.last_finite else None}
        trainer.stop_reason = f"loss_not_finite: loss became {loss} at step {trainer.step} ({last})"

    def summary(self) -> dict:
        return {"every": self.every, "stopped": self.stopped,
                "last_finite": list(self.last_finite) if self.last_finite else None}

    def state_dict(self) -> dict:
        return {"last_finite": list(self.last_finite) if self.last_finite else None, "stopped": self.stopped}

    def load_state_dict(self, state: dict) -> None:
        self.last_finite = tuple(state["last_finite"]) if state.get("last_finite") else None
        self.stopped = state.get("stopped")
