"""Batch-norm folding for inference (Ioffe & Szegedy 2015; the "fuse BN into conv" trick).

At test time batch norm is a fixed affine map per channel, with the running statistics
``mu``, ``var`` and the learned ``gamma``, ``beta``:

    BN(z) = gamma (z - mu) / sqrt(var + eps) + beta

so a layer ``z = W x + b`` (Linear, Conv1d or Conv2d; W's first axis = output channels) followed
by BN is the single layer

    W' = s W,    b' = s (b - mu) + beta,    s = gamma / sqrt(var + eps)   (per output channel)

computed by torch's ``fuse_linear_bn_eval`` / ``fuse_conv_bn_eval``. The BN is replaced by
``nn.Identity``, which saves one pass over every activation map at inference.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_CONVS = (nn.Conv1d, nn.Conv2d)


def _foldable(layer: nn.Module, bn: nn.Module) -> bool:
    return (isinstance(layer, (*_CONVS, nn.Linear)) and isinstance(bn, _BATCHNORMS)
            and bn.track_running_stats and bn.affine)


def _fold_sequential(seq: nn.Sequential) -> None:
    """Fold, in place, every BN that directly follows a Linear/Conv among ``seq``'s children."""
    names = list(seq._modules)
    for prev, name in zip(names, names[1:]):
        layer, bn = seq._modules[prev], seq._modules[name]
        if _foldable(layer, bn):
            fuse = fuse_conv_bn_eval if isinstance(layer, _CONVS) else fuse_linear_bn_eval
            seq._modules[prev] = fuse(layer, bn)
            seq._modules[name] = nn.Identity()


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every foldable batch norm folded into its layer.

    Foldable: a BatchNorm1d/2d with running statistics and affine parameters that directly
    follows a Linear/Conv1d/Conv2d inside an ``nn.Sequential`` — the models of
    :mod:`babysitter.nn.models` (``fc1 -> bn1``, ``conv1 -> bn1``, ``stem -> stem_bn``, and inside
    each ResidualBlock ``branch.conv1 -> bn1``, ``branch.conv2 -> bn2``, ``shortcut conv -> bn``).
    Other batch norms are left in place. The original model is not touched.

    The copy is for inference only: its outputs equal ``model.eval()``'s (up to rounding) for any
    input ``x`` the model accepts; training it again (``.train()``) would no longer normalise.
    """
    folded = copy.deepcopy(model).eval()
    for module in list(folded.modules()):
        if isinstance(module, nn.Sequential):
            _fold_sequential(module)
    return folded
