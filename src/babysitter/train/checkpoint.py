"""Checkpoints: written atomically (temp file + rename), loaded with ``weights_only=True``.

A checkpoint holds only tensors and plain Python values (dicts, lists, numbers, strings), so it
loads without unpickling arbitrary objects; one that needs more is refused with a clear error.
"""

from __future__ import annotations

import pickle
import re
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import torch

from babysitter.errors import BadInput, CannotWrite
from babysitter.files import atomic_file, reason


@contextmanager
def signals_held():
    """Ctrl-C (SIGINT) and SIGTERM wait until the block ends, then act as their handlers would have
    (KeyboardInterrupt, Terminated, or the default: death): torch's zip writer turns an exception
    raised inside its write into "unexpected pos" (a short write), so a checkpoint cut by Ctrl-C read
    as a full disk. The handlers are swapped, not the signal mask: torch's threads would take a
    process-directed signal that the main thread blocks. Main thread only (where handlers can be set)."""
    held = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.getsignal(s) for s in held}
    if threading.current_thread() is not threading.main_thread() or any(h is None for h in old.values()):
        yield
        return
    got: list[int] = []
    for s in held:
        signal.signal(s, lambda n, _frame: got.append(n))
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if got:
            handler = old[got[0]]
            if callable(handler):
                handler(got[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(got[0])


def save_atomic(obj, path: str | Path) -> None:
    """torch.save through :func:`babysitter.files.atomic_file`: temp file, fsync, rename (never
    half-written), with Ctrl-C and SIGTERM held until it is done (:func:`signals_held`). A failed write
    (a full disk, no permission) is CannotWrite; the previous file stays whole. torch's zip writer
    reports a short write inside the archive as a RuntimeError ("[enforce fail at inline_container.cc]
    unexpected pos", "file write failed"), not an OSError: it is CannotWrite too."""
    with signals_held(), atomic_file(path) as f:
        try:
            torch.save(obj, f)
        except RuntimeError as e:
            if not _write_failure(e):
                raise
            raise CannotWrite(f"could not write {path}: the write was cut short (a full disk or a file size "
                              f"limit): {reason(e)[:120]}") from None


def _write_failure(e: RuntimeError) -> bool:
    """Whether torch's RuntimeError is its zip writer's report of a failed or short write."""
    text = str(e)
    return any(w in text for w in ("inline_container", "unexpected pos", "write failed", "PytorchStreamWriter",
                                   "File too large", "No space left"))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint safely; refuse files that hold arbitrary pickled objects, and name the
    file in one line when it is empty, cut short or not a PyTorch checkpoint at all."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"checkpoint {path} is a directory, not a file")
    if not path.is_file():
        raise BadInput(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise BadInput(f"checkpoint {path} is empty (0 bytes): its write was cut short; delete it or restore a copy")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found:  # a real pickle that needs more than weights: refused, never run
            raise BadInput(f"refusing to load {path}: it holds arbitrary pickled objects, not only weights "
                           f"(weights_only=True refuses {found.group(1)})") from None
        raise BadInput(f"cannot read checkpoint {path}: it is corrupted or not a PyTorch checkpoint{_gist(e)}") from None
    except Exception as e:  # zip/pickle framing of a truncated or foreign file: RuntimeError, EOFError, KeyError...
        raise BadInput(f"cannot read checkpoint {path}: it is truncated, corrupted or not a PyTorch checkpoint{_gist(e)}") from None
    return state


def _gist(e: BaseException) -> str:
    """' (first sentence of torch's message)' when it says something in words, else ''."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    first = lines[0].split(". ")[0].rstrip(".") if lines else ""
    informative = len(first.split()) >= 3 and len(first) <= 160 and not first.startswith("Weights only load failed")
    return f" ({first})" if informative else ""
