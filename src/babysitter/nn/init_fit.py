"""Initialisations that cut epochs (airbench's ablation, Jordan 2024): patch whitening of the
first convolution, fitted on training patches, and identity (dirac) init of the others.

patch whitening (``model.whiten_first: true``) -- the lecture's PCA whitening, applied to the
    k x k (1-D: k) patches the first conv sees. With ``P: (M, d)`` the training patches
    (d = C k^2, stride 1, no padding), mu their mean and ``Sigma = cov(P) = V diag(lambda) V^T``:

        W_n = diag(lambda_1..n + eps)^(-1/2) V_1..n^T          (top n eigen-directions)
        filters = [ W_n ; -W_n ],   bias = -filters mu

    so the first n output channels of any training patch have covariance ``W_n Sigma W_n^T ~ I``
    (exactly ``lambda / (lambda + eps)`` on the diagonal) and mean 0; the negated copy keeps what
    a ReLU after the layer would cut. n = min(d, out_channels // 2); filters past 2n keep the
    spec's init. The layer still trains.
dirac (``model.dirac: true``) -- every conv after the first starts as the identity on its first
    min(C_in, C_out) output channels: ``w[o, i, centre] = [o == i]`` (``torch.nn.init.dirac_``),
    so ``conv(x)[:, :C_in] = x`` with zero bias and 'same' padding; the remaining output channels
    keep the spec's init. A deep plain net then starts close to a shallow one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.conv import _ConvNd

from babysitter.errors import BadInput


def convs(model: nn.Module) -> list[_ConvNd]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]


class _Captured(Exception):
    pass


@torch.no_grad()
def first_conv_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the model's first conv receives for input ``x: (N, ...)`` (the layers before it run)."""
    conv, seen = convs(model)[0], []

    def grab(module, args):
        seen.append(args[0])
        raise _Captured

    handle = conv.register_forward_pre_hook(grab)
    was_training = model.training
    try:
        model.eval()(x)
    except _Captured:
        pass
    finally:
        handle.remove()
        model.train(was_training)
    return seen[0]


def patches(x: torch.Tensor, conv: _ConvNd) -> torch.Tensor:
    """``(M, C k^2)`` (1-D: ``(M, C k)``) stride-1 patches of ``x: (N, C, H, W)`` / ``(N, C, L)``,
    each flattened in the order of ``conv.weight[o].flatten()``."""
    if isinstance(conv, nn.Conv2d):
        cols = F.unfold(x, conv.kernel_size)                        # (N, C k k, P)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])
    k = conv.kernel_size[0]
    cols = x.unfold(2, k, 1)                                        # (N, C, P, k)
    return cols.permute(0, 2, 1, 3).reshape(-1, x.shape[1] * k)


@torch.no_grad()
def patch_whitening_(model: nn.Module, x_train: torch.Tensor, eps: float = 5e-4, max_examples: int = 5000) -> nn.Module:
    """Fit the first conv of ``model`` to whiten the patches of ``x_train[:max_examples]`` (module doc)."""
    found = convs(model)
    if not found:
        raise BadInput("model.whiten_first: the model has no convolution to whiten with (use kind cnn or resnet)")
    conv = found[0]
    p = patches(first_conv_input(model, x_train[:max_examples]), conv).double()
    mu = p.mean(0)
    lam, v = torch.linalg.eigh(torch.cov(p.T))                      # ascending eigenvalues
    n = min(p.shape[1], conv.out_channels // 2)
    if n == 0:
        raise BadInput(f"model.whiten_first: the first conv has {conv.out_channels} output channel(s); needs >= 2")
    w = (v[:, -n:].flip(1) / (lam[-n:].flip(0).clamp_min(0) + eps).sqrt()).T  # (n, d), largest first
    filters = torch.cat([w, -w])
    conv.weight[:2 * n] = filters.view(2 * n, *conv.weight.shape[1:]).to(conv.weight.dtype)
    if conv.bias is not None:
        conv.bias[:2 * n] = -(filters @ mu).to(conv.bias.dtype)
    return model


@torch.no_grad()
def dirac_(model: nn.Module) -> nn.Module:
    """Identity init of every conv after the first, on its first min(C_in, C_out) filters (module doc)."""
    for conv in convs(model)[1:]:
        if conv.groups != 1:
            continue
        n = min(conv.in_channels, conv.out_channels)
        nn.init.dirac_(conv.weight[:n])
        if conv.bias is not None:
            conv.bias[:n] = 0
    return model
