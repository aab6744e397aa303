"""A trained run as one self-contained model file: raw input in, scores (logits) out.

    export(run_dir, "onnx")         -> <run dir>/model.onnx              (input "x", output "scores")
    export(run_dir, "torchscript")  -> <run dir>/model.torchscript.pt    (torch.jit.load)
    export(run_dir, fmt, out=DIR)   -> DIR/model.onnx (or .torchscript.pt) when DIR is a folder

The file follows the umask as open() would (a replaced file, ``force``, keeps its own mode).

The module exported is ``Sequential(Preprocess, fold_batchnorm(model))``: the fitted
preprocessing (``data.preprocess``) as a layer whose statistics are buffers, then the network in
eval mode with every batch norm folded into the layer before it (``nn/fold.py``:
``W' = s W, b' = s (b - mu) + beta, s = gamma / sqrt(var + eps)``). The batch axis is dynamic.
ONNX goes through torch's TorchScript-based exporter (``dynamo=False``, opset 17), which needs
only the ``onnx`` package (``pip install 'babysitter[export]'``).
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
import warnings
from pathlib import Path

import torch
from torch import nn

from babysitter.errors import BadInput, CannotWrite
from babysitter.files import new_file_mode, reason, writing

FORMATS = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
OPSET = 17


class Preprocess(nn.Module):
    """The fitted :class:`~babysitter.data.preprocess.Preprocessor` as a layer
    ``(N, *in_shape) -> (N, *out_shape)``; its statistics are registered as buffers."""

    def __init__(self, pre):
        super().__init__()
        self.pre = pre
        for i, step in enumerate(pre.steps):
            for key in step.keys:
                self.register_buffer(f"s{i}_{key}", step.stats[key])
                step.stats[key] = getattr(self, f"s{i}_{key}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.pre.steps:
            x = step(x)
        return x


def exportable(predictor) -> nn.Module:
    """``Sequential(preprocess, folded model)`` in eval mode, on the CPU: raw input -> scores."""
    from babysitter.nn.fold import fold_batchnorm

    parts = [("preprocess", Preprocess(predictor.preprocess))] if predictor.preprocess is not None else []
    parts.append(("model", fold_batchnorm(predictor.model.cpu())))
    return nn.Sequential(OrderedDict(parts)).eval()


def export(run_dir: str | Path, format: str = "onnx", out: str | Path | None = None, force: bool = False) -> Path:
    """Write the run's model as ``format`` (onnx | torchscript) to ``out`` (default
    ``<run dir>/model.onnx`` or ``model.torchscript.pt``); returns the path. An existing ``out``
    is kept unless ``force`` (BadInput); the file is written to a temp name, then renamed."""
    from babysitter.model.load import load

    if format not in FORMATS:
        raise BadInput(f"export: unknown format '{format}'; valid: {', '.join(FORMATS)}")
    predictor = load(run_dir)
    out = target(run_dir, format, out, force)
    module = exportable(predictor)
    example = torch.zeros(2, *predictor.input_shape)
    mode = new_file_mode(out)
    with writing(out):
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        os.close(fd)
        try:
            if format == "onnx":
                _onnx(module, example, tmp)
            else:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit: still the TorchScript format
                    torch.jit.trace(module, example).save(tmp)
            os.chmod(tmp, mode)  # mkstemp made it 0600
            os.replace(tmp, out)
        except RuntimeError as e:  # torch's writers report a short write (full disk) as a RuntimeError
            raise CannotWrite(f"could not write {out}: {reason(e)[:160]}") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
    return out


def target(run_dir: str | Path, format: str, out: str | Path | None, force: bool) -> Path:
    """Where the model file goes: ``out``, ``out/<model file>`` when ``out`` is a folder, or
    ``<run dir>/<model file>``; BadInput (one line) if it exists and not ``force``, or cannot be a file."""
    out = Path(out) if out is not None else Path(run_dir)
    if out.is_dir():
        out = out / FORMATS[format]
    if out.is_dir():
        raise BadInput(f"export: {out} is a folder; give --out a file name or another folder")
    if out.exists() and not force:
        raise BadInput(f"export: {out} exists; pass --force to replace it")
    if not out.parent.is_dir():
        raise BadInput(f"export: no folder {out.parent}")
    return out


def _onnx(module: nn.Module, example: torch.Tensor, path: str) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it; say so in one line if absent)
    except ImportError:
        raise BadInput("export --format onnx needs the onnx package: pip install 'babysitter[export]'") from None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter, chosen on purpose
        torch.onnx.export(module, (example,), path, dynamo=False, opset_version=OPSET,
                          input_names=["x"], output_names=["scores"],
                          dynamic_axes={"x": {0: "batch"}, "scores": {0: "batch"}})
