"""What the watch sees through a TorchFunctionMode (:class:`Spy`): functional losses, ``Tensor.backward``,
softmax/sigmoid outputs, and which tensors carry a weighted layer's output with no non-linearity since
(``missing_activation``); and the loss modules and layer shapes the capture reads."""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode



LOSS_FUNCTIONS = {F.cross_entropy: "cross_entropy", F.nll_loss: "nll_loss", F.mse_loss: "mse_loss",
                  F.l1_loss: "l1_loss", F.smooth_l1_loss: "smooth_l1_loss", F.huber_loss: "huber_loss",
                  F.binary_cross_entropy: "binary_cross_entropy",
                  F.binary_cross_entropy_with_logits: "binary_cross_entropy_with_logits"}
NONLINEAR = {"relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "prelu", "rrelu", "elu", "elu_", "selu", "celu",
             "gelu", "silu", "mish", "softplus", "tanh", "tanh_", "sigmoid", "sigmoid_", "hardtanh", "hardtanh_",
             "hardswish", "hardsigmoid", "logsigmoid", "softsign", "tanhshrink", "threshold", "glu", "softmax",
             "log_softmax", "exp", "log", "pow", "sqrt", "rsqrt", "square", "abs", "clamp", "clip", "maximum",
             "minimum", "max", "min", "where", "sin", "cos", "max_pool1d", "max_pool2d", "max_pool3d",
             "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
             "adaptive_max_pool1d", "adaptive_max_pool2d", "norm", "layer_norm", "group_norm", "mul", "__mul__",
             "matmul", "bmm", "lstm", "gru", "rnn_tanh", "rnn_relu"}


def _residual(w, args) -> bool:
    """``x + f(x)``: a layer's output combined with another computed tensor (one that carries a
    gradient and is not a linear function of the same layer) is a residual stream, not that layer's
    output passed on linearly (a block's non-linearity sits in f)."""
    grads = [a for a in args if isinstance(a, torch.Tensor) and a.grad_fn is not None]   # not parameters (a bias)
    if len(grads) < 2:
        return False
    srcs = {id(w._linear_src(a)) for a in grads}   # id(None): not a layer's output
    return len(srcs) > 1


SOFTMAXES = (F.softmax, F.log_softmax, torch.softmax, torch.Tensor.softmax)
SIGMOIDS = (torch.sigmoid, F.sigmoid, torch.Tensor.sigmoid)


class Spy(TorchFunctionMode):
    """Sees functional losses, ``Tensor.backward`` and, for the layer order, which tensors carry a
    weighted layer's output without a non-linearity since. Passes every call through unchanged."""

    def __init__(self, watch):
        super().__init__()
        self.watch = watch

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        w = self.watch
        name = LOSS_FUNCTIONS.get(func)
        if name is not None and len(args) >= 2:
            w._saw_loss(out, args[0], args[1], name, kwargs, func)
        elif func is torch.Tensor.backward:
            w._saw_backward(args[0])
        elif func in SIGMOIDS and isinstance(out, torch.Tensor):
            w._sigmoid_outs.add(out.data_ptr())
        elif func in SOFTMAXES and kwargs.get("dim", args[1] if len(args) > 1 else None) is None:
            x = args[0] if args else None   # torch's implicit dim: 0 for 0-D, 1-D and 3-D inputs
            if isinstance(x, torch.Tensor) and x.ndim in (0, 1, 3) and isinstance(out, torch.Tensor):
                w._softmax_no_dim.add(out.data_ptr())
        elif w._linear_outs and isinstance(out, torch.Tensor):
            fname = getattr(func, "__name__", "")
            if fname not in NONLINEAR:
                src = next((s for a in args if isinstance(a, torch.Tensor) and (s := w._linear_src(a)) is not None),
                           None)
                if src is not None and not _residual(w, args):   # a view, dropout, batch norm...: still linear in it
                    w._keep_linear(out, src)
        return out


def on_top(mode: TorchFunctionMode) -> bool:
    """``mode`` is the innermost TorchFunctionMode now. It is not while a mode of the script's own was
    entered over it, nor for the length of its own ``__torch_function__`` (torch pops it meanwhile):
    a hand-written update's step begins in a hook inside ``loss.backward()``. Exiting it then would pop
    another mode or none, and the Spy would come back on the stack as the call returns, once more per step."""
    n = torch._C._len_torch_function_stack()
    return n > 0 and torch._C._get_function_stack_at(n - 1) is mode


def _widths(m: nn.Module) -> tuple[int, int] | None:
    if isinstance(m, nn.Linear):
        return m.in_features, m.out_features
    if isinstance(m, nn.modules.conv._ConvNd):
        return m.in_channels, m.out_channels
    return None


def _bottleneck(first: nn.Module, second: nn.Module) -> bool:
    """Two linear maps through a narrower middle, ``d_mid < min(d_in, d_out)``, are a low-rank
    factorisation (a linear autoencoder's code, an adapter), not one layer written twice."""
    a, b = _widths(first), _widths(second)
    return a is not None and b is not None and a[1] < min(a[0], b[1])


LOSS_MODULES = {nn.CrossEntropyLoss: "cross_entropy", nn.NLLLoss: "nll_loss", nn.MSELoss: "mse_loss",
                nn.L1Loss: "l1_loss", nn.SmoothL1Loss: "smooth_l1_loss", nn.HuberLoss: "huber_loss",
                nn.BCELoss: "binary_cross_entropy", nn.BCEWithLogitsLoss: "binary_cross_entropy_with_logits"}
