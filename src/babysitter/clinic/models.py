"""Faulty user models for the clinic (``model.kind: python``)."""

import torch
from torch import nn


class _WrongBackward(torch.autograd.Function):
    """tanh whose backward forgets the chain rule's (1 - tanh^2) factor: a classic hand-written bug."""

    @staticmethod
    def forward(ctx, x):
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class BuggyTanhNet(nn.Module):
    def __init__(self, d_in: int, num_classes: int):
        super().__init__()
        self.fc1, self.head = nn.Linear(d_in, 64), nn.Linear(64, num_classes)

    def forward(self, x):
        return self.head(_WrongBackward.apply(self.fc1(x.flatten(1))))


class RawParameterNet(nn.Module):
    """Weights held as bare nn.Parameter matrices (x @ W), which layer-based L2 does not see."""

    def __init__(self, d_in: int, num_classes: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(d_in, 64) * (2 / d_in) ** 0.5)
        self.w2 = nn.Parameter(torch.randn(64, num_classes) * (1 / 64) ** 0.5)

    def forward(self, x):
        return torch.relu(x.flatten(1) @ self.w1) @ self.w2


def buggy_tanh_net(num_classes, sample_shape):
    return BuggyTanhNet(int(torch.tensor(sample_shape).prod()), num_classes)


def raw_parameter_net(num_classes, sample_shape):
    return RawParameterNet(int(torch.tensor(sample_shape).prod()), num_classes)


class NegativeBiasMLP(nn.Module):
    """A ReLU net whose biases start at -3: most units never fire (the lecture's dead ReLU)."""

    def __init__(self, d_in: int, num_classes: int, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, num_classes))
        for m in self.net:
            if isinstance(m, nn.Linear) and m.out_features == width:
                nn.init.kaiming_normal_(m.weight)
                nn.init.constant_(m.bias, -3.0)

    def forward(self, x):
        return self.net(x)


def negative_bias_mlp(num_classes, sample_shape):
    return NegativeBiasMLP(int(torch.tensor(sample_shape).prod()), num_classes)
