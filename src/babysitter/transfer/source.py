"""The source network of a transfer: a run dir, a bare checkpoint, or any nn.Module.

A run dir (``babysit train`` / ``--pretrain``) holds ``spec.yaml`` (rebuilds the source
architecture), ``checkpoints/best.pt`` or ``last.pt`` (``{"model": state_dict}``) and maybe
``preprocess.pt`` (the source's fitted preprocessing). A bare ``.pt`` is ``{"model": state_dict}``
or a plain state_dict (``torch.save(model.state_dict(), path)``); the TARGET spec's model must fit it.
The source head's class count is read from the checkpoint; the head is then replaced for C classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from babysitter.data.preprocess import Preprocessor
from babysitter.errors import BadInput
from babysitter.nn.models import build_model
from babysitter.spec import RunSpec, load_spec
from babysitter.train.checkpoint import load_checkpoint
from babysitter.transfer.freeze import head_linear, replace_head


@dataclass
class Source:
    """Where the weights come from: the model spec that rebuilds them, the state_dict, the
    source's preprocessing (None for a bare checkpoint) and a description for the report."""

    model_spec: object
    state: dict
    preprocess: Preprocessor | None
    description: str


def read_source(path: str | Path, target: RunSpec) -> Source:
    """Read a run dir (best.pt, else last.pt, with its spec.yaml) or a bare checkpoint file."""
    path = Path(path)
    if path.is_dir():
        if not (path / "spec.yaml").is_file():
            raise BadInput(f"transfer --from {path}: no spec.yaml there; give a run dir or a checkpoint .pt file")
        ckpt = next((path / "checkpoints" / n for n in ("best.pt", "last.pt") if (path / "checkpoints" / n).is_file()), None)
        if ckpt is None:
            raise BadInput(f"transfer --from {path}: no checkpoints/best.pt or last.pt (did the run finish an epoch?)")
        spec, pre = load_spec(path / "spec.yaml"), None
        if (path / "preprocess.pt").is_file():
            try:
                pre = Preprocessor.from_state_dict(load_checkpoint(path / "preprocess.pt"))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                if isinstance(e, BadInput):
                    raise
                raise BadInput(f"transfer --from {path}: preprocess.pt is not a fitted preprocessing ({e})") from None
        return Source(spec.model, _state_dict(ckpt), pre, f"run dir {path} ({ckpt.name})")
    if not path.is_file():
        raise BadInput(f"transfer --from {path}: no such run dir or checkpoint file")
    return Source(target.model, _state_dict(path), None, f"checkpoint {path}")


def _state_dict(path: Path) -> dict:
    state = load_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInput(f"transfer: {path} holds no state_dict (expected {{'model': state_dict}} or a state_dict of tensors)")
    return state


def load_weights(model: nn.Module, state: dict, where: str) -> nn.Module:
    """``model.load_state_dict(state)`` with the source head resized to the checkpoint's class
    count first; a checkpoint that does not fit is BadInput naming the first mismatches."""
    name, head = head_linear(model)
    source_classes = state.get(f"{name}.weight")
    if source_classes is not None and source_classes.ndim == 2 and source_classes.shape[1] == head.in_features:
        replace_head(model, source_classes.shape[0])
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()]
        raise BadInput(f"transfer: {where} does not fit the model: {'; '.join(lines)[:400]}") from None
    return model


def source_model(source: Source, sample_shape, num_classes: int, seed: int = 0) -> nn.Module:
    """The source architecture on ``sample_shape`` with the source weights and a fresh head of
    ``num_classes`` outputs (seeded by ``seed``)."""
    torch.manual_seed(seed)
    model = build_model(source.model_spec, sample_shape, num_classes)
    load_weights(model, source.state, source.description)
    torch.manual_seed(seed)
    return replace_head(model, num_classes)
