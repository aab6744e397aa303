"""Mixed precision, compilation and memory layout of a training run (``train.precision``,
``train.compile``, ``train.channels_last``): what the step needs from them in one small object,
so the step itself only swaps ``loss.backward()`` / ``optimizer.step()`` for its two methods.

precision  ``32``        float32 everywhere (default; bit-identical to a plain loop)
           ``bf16``      forward (and loss) under ``torch.autocast(dtype=bfloat16)``: matmuls and
                         convs in bfloat16 (8-bit mantissa, relative rounding 2^-8 ~ 4e-3), weights,
                         gradients and the optimizer stay float32. Same exponent range as float32,
                         so no loss scaling.
           ``16-mixed``  autocast to float16 (10-bit mantissa, but the range ends at 65504 and
                         small gradients underflow) with dynamic loss scaling (``torch.amp.GradScaler``):
                         backward of ``s * L``, gradients unscaled by 1/s right after backward (so
                         clipping and the doctor see true gradients), a step skipped and s halved
                         when they hold inf/nan, s doubled after 2000 clean steps.
           ``auto``      CUDA: bf16 where the GPU supports it, else 16-mixed. CPU: bf16 with
                         AMX-BF16 tile units; with AVX512-BF16 (no AMX) only for a model with 2-D
                         convolutions, where oneDNN's native bf16 conv kernels win (measured on
                         the Fashion-MNIST CNN, 2 threads, channels_last: 58 vs 95 ms a step);
                         32 otherwise -- on the small Linear / Conv1d models of MNIST-1D bf16
                         autocast measured x0.45-x1.05 of float32 on that CPU, and without
                         AVX512-BF16 it is emulated and slower (PyTorch issues #118499, #183815).
compile    ``torch.compile`` of the model in place (``nn.Module.compile``: the state dict keeps its
           keys, so checkpoints load into an uncompiled model). The first steps pay for compiling.
channels_last  4-D weights and inputs in NHWC order (``torch.channels_last``), which oneDNN and
           cuDNN convolutions prefer; no effect on sequences. The values are the same as NCHW's up
           to float rounding.

Optimizers that need a closure (L-BFGS, Newton) re-evaluate the loss themselves and always run
in float32.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

DTYPES = {"32": None, "bf16": torch.bfloat16, "16-mixed": torch.float16}


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(name: str, device: torch.device, flags: set[str] | None = None,
                      model: nn.Module | None = None) -> str:
    """``train.precision`` with ``auto`` replaced by what suits ``device`` and ``model`` (see the
    module doc)."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "16-mixed"
    flags = cpu_flags() if flags is None else flags
    convs = model is not None and any(isinstance(m, nn.Conv2d) for m in model.modules())
    return "bf16" if "amx_bf16" in flags or ("avx512_bf16" in flags and convs) else "32"


class Precision:
    """``autocast()`` around the forward and loss; ``backward(loss)`` and ``step(optimizer)`` in
    place of ``loss.backward()`` and ``optimizer.step()`` (loss scaling for 16-mixed)."""

    def __init__(self, name: str, device: torch.device, model: nn.Module | None = None):
        self.name = resolve_precision(name, device, model=model)
        self.device_type = device.type
        self.dtype = DTYPES[self.name]
        self.scaler = torch.amp.GradScaler(device.type) if self.name == "16-mixed" else None

    def autocast(self):
        return nullcontext() if self.dtype is None else torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)  # true gradients from here on: clipping, instruments

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)  # skipped when the gradients hold inf/nan
        self.scaler.update()


def _channels_last_inputs(module: nn.Module, args: tuple):
    x = args[0] if args else None
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return (x.contiguous(memory_format=torch.channels_last), *args[1:])
    return None


def prepare_model(model: nn.Module, channels_last: bool = False, compile: bool = False) -> nn.Module:
    """``model`` (already on its device) in NHWC layout and/or compiled, in place; returns it."""
    if channels_last:
        model.to(memory_format=torch.channels_last)
        model.register_forward_pre_hook(_channels_last_inputs)
    if compile:
        model.compile()
    return model
