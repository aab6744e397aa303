"""The trainer's hook protocol: plain classes with empty hook methods (Keras-style callbacks).

An instrument subclasses :class:`Callback` and overrides only the hooks it needs; the trainer calls
a hook only on callbacks that override it, so an unused hook costs nothing in the training step.
Every hook receives the trainer; per-step hooks read ``trainer.state`` (x, y, logits, loss, step).
"""

from __future__ import annotations

HOOKS = ("before_fit", "before_epoch", "after_forward", "after_backward", "after_step", "after_epoch", "after_fit")


class Callback:
    def before_fit(self, trainer): ...
    def before_epoch(self, trainer): ...
    def after_forward(self, trainer): ...
    def after_backward(self, trainer): ...
    def after_step(self, trainer): ...
    def after_epoch(self, trainer): ...
    def after_fit(self, trainer): ...


class CallbackError(RuntimeError):
    """An instrument failed; the message names it."""


def listeners(callbacks, hook: str) -> list:
    """The callbacks that override ``hook`` (so empty hooks are never called)."""
    return [cb for cb in callbacks if getattr(type(cb), hook) is not getattr(Callback, hook)]


def fire(callbacks_for_hook: list, hook: str, trainer) -> None:
    for cb in callbacks_for_hook:
        try:
            getattr(cb, hook)(trainer)
        except Exception as e:  # name the instrument that failed, keep the cause chained
            raise CallbackError(f"{type(cb).__name__}.{hook} failed: {type(e).__name__}: {e}") from e
