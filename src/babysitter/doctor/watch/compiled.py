"""A ``torch.compile``'d model (an ``OptimizedModule`` wrapping the user's module as ``_orig_mod``),
watched from outside its compiled region.

Dynamo traces whatever Python runs inside the compiled forward: the watch's global module hooks, its
TorchFunctionMode (:class:`~babysitter.doctor.watch.spy.Spy`) and per-layer hooks would be compiled into
the graph or break it into pieces, and pieces change what the script computes (inductor's dropout draws
one seed per graph; eager pieces round differently). So while an OptimizedModule's forward runs, the
watch's global hooks and Spy are off (its own hooks on the OptimizedModule run eagerly, outside the
graph); the instruments that hook layers are not attached (the run's activations go unread, the probes
read them on eager copies); the probes copy ``_orig_mod``, never the compiled wrapper, so they add no
entry to dynamo's caches; the layers keep the user's names (``0``, ``fc1``, not ``_orig_mod.0``).
"""

from __future__ import annotations

import warnings

from torch import nn

# OptimizedModule.__call__ warns when any global module hook exists: ours, not the script's
GLOBAL_HOOK_WARNING = r"Using `torch\.compile\(module\)` when there are global hooks"


def is_compiled(module: nn.Module) -> bool:
    """``torch.compile(module)``'s wrapper (checked by name: importing torch._dynamo costs seconds)."""
    return type(module).__name__ == "OptimizedModule" and isinstance(getattr(module, "_orig_mod", None), nn.Module)


def inner(module: nn.Module) -> nn.Module:
    """The user's module inside a compiled wrapper (itself otherwise)."""
    return module._orig_mod if is_compiled(module) else module


def hide_global_hook_warning() -> list:
    """Silence torch's warning about *our* global hooks; returns the filter to pass to :func:`restore`."""
    warnings.filterwarnings("ignore", message=GLOBAL_HOOK_WARNING, category=UserWarning)
    return [warnings.filters[0]]


def restore(added: list) -> None:
    for f in added:
        if f in warnings.filters:
            warnings.filters.remove(f)
    warnings._filters_mutated()   # noqa: SLF001 - as warnings.filterwarnings itself does after a change


class CompiledRegion:
    """Hooks on one OptimizedModule: its forward runs with the watch's global hooks and Spy off.

    ``enter`` is called by the watch's global pre-hook the first time it sees the module (the pre-hook
    registered here joins only from the next call: torch reads a module's hook list before running it)."""

    def __init__(self, watch, module: nn.Module):
        self.watch, self.saved = watch, None
        self.handles = [module.register_forward_pre_hook(lambda m, args: self.enter()),
                        module.register_forward_hook(lambda m, args, out: self.leave(), always_call=True)]

    def enter(self) -> None:
        w = self.watch
        if self.saved is None:
            self.saved = (w._reading, bool(w._read_handles))   # global hooks on: _global_pre counted a depth
            w._arm(False)

    def leave(self) -> None:
        w = self.watch
        if self.saved is None:
            return
        reading, counted = self.saved
        self.saved = None
        if counted:   # _global_post will not run for this call: its hooks were off when torch listed them
            w._depth = max(0, w._depth - 1)
        if w.report is None:   # not after close()
            w._arm(reading)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
