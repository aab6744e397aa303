"""Data augmentation (CS231n "Training Neural Networks II": flips, random crops, translations,
colour jitter), applied to training batches only.

Each op takes ``(x, g)`` -- ``x: (N, ...)`` a whole batch on any device, ``g`` a
``torch.Generator`` -- and returns a new batch of the same shape, drawing one set of random
numbers per example. Random numbers are drawn on the generator's device (CPU normally) and then
moved to ``x.device``, so a CPU generator drives a CUDA batch reproducibly. No Python loop over
examples: each op is a handful of tensor ops on the batch.

    flip      horizontal flip of images (N, C, H, W): x[..., ::-1] with probability 0.5
    flip:alternating
              alternating flip (airbench, Jordan 2024): example i is flipped in epoch e iff
              b_i XOR (e mod 2), b_i a fixed pseudo-random bit of i (Knuth's multiplicative hash,
              the top bit of (i * 2654435761) mod 2^32) -- each example is seen both ways in any
              two consecutive epochs, where random flips repeat one side with probability 1/2.
    crop:P    zero-pad H and W by P, then take an H x W window at offset (dy, dx),
              dy, dx ~ U{0, .., 2P} per example:  out[n, c, i, j] = pad(x)[n, c, i + dy, j + dx]
    shift:S   translate along the last axis by s ~ U{-S, .., S} per example, zero fill (not
              circular -- a signal pushed off one edge must not wrap round to the other; zero
              is the training mean after center/standardize):
              out[n, ..., i] = x[n, ..., i - s] if 0 <= i - s < L else 0
              works on (N, L) sequences and on images (shifts along the width).
    jitter:F  brightness/contrast: (x - m) * c + m + b, m the example's mean over all its
              values, c ~ U[1 - F, 1 + F], b ~ U[-F, F] per example; 0 < F <= 1.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from babysitter.errors import BadInput

AUGMENTS = ("flip", "flip:alternating", "crop:P", "shift:S", "jitter:F")
TTA = ("flip", "shift:S")


def _per_example(x: Tensor, values: Tensor) -> Tensor:
    """``values: (N,)`` drawn on the generator's device -> ``(N, 1, .., 1)`` on ``x.device``."""
    return values.to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.dim() - 1)))


def _need_images(name: str, x: Tensor) -> None:
    if x.dim() != 4:
        raise BadInput(f"augment {name}: needs images (N, C, H, W), got a batch of shape {tuple(x.shape)}")


def flip(x: Tensor, g: torch.Generator) -> Tensor:
    """Horizontal flip of ``x: (N, C, H, W)``, each example with probability 0.5."""
    _need_images("flip", x)
    mask = torch.rand(x.shape[0], generator=g, device=g.device) < 0.5
    return torch.where(mask.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)


def alternating_flip(x: Tensor, idx: Tensor, epoch: int) -> Tensor:
    """Flip ``x: (N, C, H, W)`` where ``b_i XOR (epoch mod 2)``; ``idx: (N,)`` the examples' indices."""
    _need_images("flip:alternating", x)
    bits = ((idx.to(x.device, torch.int64) * 2654435761) % (1 << 32)) >> 31
    mask = (bits ^ (epoch % 2)).bool()
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


def crop(x: Tensor, g: torch.Generator, pad: int) -> Tensor:
    """Random crop with zero padding ``pad`` of ``x: (N, C, H, W)`` -> (N, C, H, W)."""
    _need_images(f"crop:{pad}", x)
    n, c, h, w = x.shape
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=g.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=g.device).to(x.device)
    padded = F.pad(x, (pad, pad, pad, pad)).flatten(2)                           # (N, C, Hp*Wp)
    rows = dy[:, None] + torch.arange(h, device=x.device)                         # (N, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)                         # (N, W)
    # one gather of flat indices (i + dy) * Wp + (j + dx): faster than 4-way fancy indexing
    flat = rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]                    # (N, H, W)
    return padded.gather(2, flat.view(n, 1, h * w).expand(n, c, h * w)).view(n, c, h, w)


def shift(x: Tensor, g: torch.Generator, max_shift: int) -> Tensor:
    """Shift ``x: (N, ..., L)`` along its last axis by s ~ U{-S..S} per example, zero fill."""
    if x.dim() < 2:
        raise BadInput(f"augment shift:{max_shift}: needs a batch (N, ..., L), got shape {tuple(x.shape)}")
    s = torch.randint(-max_shift, max_shift + 1, (x.shape[0],), generator=g, device=g.device).to(x.device)
    return shift_by(x, s)


def shift_by(x: Tensor, s: Tensor) -> Tensor:
    """``out[n, ..., i] = x[n, ..., i - s_n]`` where ``0 <= i - s_n < L``, else 0; ``s: (N,)`` ints."""
    n, length = x.shape[0], x.shape[-1]
    src = torch.arange(length, device=x.device)[None, :] - s[:, None]             # (N, L)
    valid = (src >= 0) & (src < length)
    view = (n, *([1] * (x.dim() - 2)), length)
    index = src.clamp(0, length - 1).view(view).expand_as(x)
    return x.gather(-1, index) * valid.view(view).to(x.dtype)


def jitter(x: Tensor, g: torch.Generator, strength: float) -> Tensor:
    """``(x - m) * c + m + b`` per example; m the example mean, c ~ U[1-F, 1+F], b ~ U[-F, F]."""
    n = x.shape[0]
    c = 1 + strength * (2 * torch.rand(n, generator=g, device=g.device) - 1)
    b = strength * (2 * torch.rand(n, generator=g, device=g.device) - 1)
    m = x.reshape(n, -1).mean(1).view(-1, *([1] * (x.dim() - 1)))
    return (x - m) * _per_example(x, c) + m + _per_example(x, b)


def parse_augment(names: list[str]) -> list[tuple[str, int | float | None]]:
    """``["flip", "crop:4"]`` -> ``[("flip", None), ("crop", 4)]``; BadInput for unknown names
    (listing the valid ones) or bad arguments (crop/shift: positive int, jitter: 0 < F <= 1)."""
    parsed: list[tuple[str, int | float | None]] = []
    for item in names:
        name, colon, arg = str(item).partition(":")
        if name == "flip":
            if colon and arg != "alternating":
                raise BadInput(f"augment '{item}': flip takes no argument but 'alternating' (flip:alternating)")
            parsed.append((name, arg or None))
        elif name in ("crop", "shift"):
            if not arg.isdigit() or int(arg) <= 0:
                raise BadInput(f"augment '{item}': {name}:N needs a positive integer N")
            parsed.append((name, int(arg)))
        elif name == "jitter":
            try:
                value = float(arg)
            except ValueError:
                value = float("nan")
            if not 0.0 < value <= 1.0:
                raise BadInput(f"augment '{item}': jitter:F needs a number 0 < F <= 1")
            parsed.append((name, value))
        else:
            raise BadInput(f"unknown augmentation '{item}'; valid: {', '.join(AUGMENTS)}")
    return parsed


_OPS = {"flip": flip, "crop": crop, "shift": shift, "jitter": jitter}


class Augment:
    """The ``data.augment`` ops composed in the order given: ``aug(x, g) -> x'``."""

    def __init__(self, names: list[str]):
        self.names = [str(n) for n in names]
        self.ops = parse_augment(self.names)

    def __call__(self, x: Tensor, g: torch.Generator, idx: Tensor | None = None, epoch: int = 0) -> Tensor:
        """``idx: (N,)``: the examples' indices in the training set (alternating flip needs them;
        default 0..N-1); ``epoch``: the epoch (0-based)."""
        for name, arg in self.ops:
            if arg == "alternating":
                x = alternating_flip(x, torch.arange(len(x)) if idx is None else idx, epoch)
            else:
                x = _OPS[name](x, g) if arg is None else _OPS[name](x, g, arg)
        return x

    def __repr__(self) -> str:
        return f"Augment({self.names})"


def make_augment(names: list[str]) -> Callable[[Tensor, torch.Generator], Tensor] | None:
    """The composed augmentation for ``data.augment``, or None when the list is empty."""
    return Augment(names) if names else None


def parse_tta(names: list[str]) -> list[tuple[str, int | None]]:
    """``train.tta``: ``["flip", "shift:1"]`` -> ``[("flip", None), ("shift", 1)]``; BadInput otherwise."""
    parsed = []
    for item in names:
        name, _, arg = str(item).partition(":")
        if not (item == "flip" or name == "shift" and arg.isdigit() and int(arg) > 0):
            raise BadInput(f"unknown test-time augmentation '{item}'; valid: {', '.join(TTA)} (S a positive integer)")
        parsed.append((name, int(arg) if arg else None))
    return parsed


class TestTimeAugment:
    """Test-time augmentation (``train.tta``): the logits averaged over deterministic views,

        f_tta(x) = 1/V sum_v f(T_v x)

    views: x itself; with ``flip`` also x[..., ::-1] (images only); with ``shift:S`` each view so
    far also shifted by -S and +S along the last axis (zero fill, as :func:`shift`). So
    ``[flip, shift:1]`` averages 6 views. ``x: (N, ...)`` -> ``(N, C)``."""

    __test__ = False  # not a pytest class

    def __init__(self, names: list[str]):
        self.ops = parse_tta(names)

    def views(self, x: Tensor) -> list[Tensor]:
        out = [x]
        for name, arg in self.ops:
            if name == "flip":
                _need_images("tta flip", x)
                out += [v.flip(-1) for v in out]
            else:
                ones = torch.ones(len(x), dtype=torch.long, device=x.device)
                out += [shift_by(v, sign * arg * ones) for v in out for sign in (-1, 1)]
        return out

    def __call__(self, model, x: Tensor) -> Tensor:
        views = self.views(x)
        return sum(model(v).float() for v in views) / len(views)
