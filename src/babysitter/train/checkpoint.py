"""Checkpoints: written atomically (temp file + rename), loaded with ``weights_only=True``.

A checkpoint holds only tensors and plain Python values (dicts, lists, numbers, strings), so it
loads without unpickling arbitrary objects; one that needs more is refused with a clear error.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import torch

from babysitter.errors import BadInput


def save_atomic(obj, path: str | Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then os.replace (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint safely; refuse files that hold arbitrary pickled objects."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unsupported object"
        raise BadInput(f"refusing to load {path}: it holds arbitrary pickled objects, not only weights "
                       f"(weights_only=True: {first[:160]})") from None
    except (RuntimeError, EOFError) as e:
        raise BadInput(f"cannot read checkpoint {path}: {str(e).splitlines()[0][:200]}") from None
