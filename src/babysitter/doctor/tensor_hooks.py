"""Tensor hooks the doctor puts on a user's parameters, taken off without a trace.

``handle.remove()`` leaves the tensor's hook dict in place, empty, and torch keeps calling into Python
for it on every backward that reaches the tensor, for the rest of the process (the user's training
after the watch, in a notebook, too). Measured on the char LM of ``bench/watch.py``: +1.2 % a step
with the hooks of the watch's first read steps removed but their empty dicts left (bench/RESULTS.md)."""

from __future__ import annotations

import torch

HOOK_DICTS = ("_backward_hooks", "_post_accumulate_grad_hooks")


def unhook(handle, tensor: torch.Tensor) -> None:
    """Remove a hook of a leaf ``tensor`` (a parameter); with its last hook gone, the tensor's hook
    dicts too (set to None, as before any hook: torch then drops its call into Python)."""
    handle.remove()
    if tensor.grad_fn is not None:   # a non-leaf's dict is also registered on its grad_fn: left alone
        return
    for name in HOOK_DICTS:
        hooks = getattr(tensor, name, None)
        if hooks is not None and not hooks:
            setattr(tensor, name, None)
