"""What the probe tests share: the digits MLP spec, its data, a model factory, a model that turns NaN."""

from torch import nn

from babysitter.data import load_data
from babysitter.spec import load_spec, override
from babysitter.train.run import build

DIGITS_MLP = {"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [64]},
              "optim": {"name": "sgd", "lr": 0.1, "weight_decay": 0.0}, "schedule": {"name": "constant"},
              "train": {"batch_size": 64}}


def spec_of(**dotted):
    return override(load_spec(DIGITS_MLP), **dotted)


def digits_data():
    spec = load_spec(DIGITS_MLP)
    return load_data(spec.data, spec.seed)


def factory(data):
    return lambda s: build(s, data=data)[0]


def ids(findings):
    return {f.id: f for f in findings}


class NanAfter(nn.Module):
    """A linear classifier whose forward returns NaN after ``after`` training-mode calls."""

    def __init__(self, after: int = 30):
        super().__init__()
        self.fc, self.calls, self.after = nn.Linear(64, 10), 0, after

    def forward(self, x):
        self.calls += self.training
        out = self.fc(x.flatten(1))
        return out * float("nan") if self.calls > self.after else out


