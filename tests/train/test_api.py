"""The Python API takes any nn.Module and plain tensors; same seed, same result."""

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import babysitter
from babysitter.train.trainer import Trainer


def _digits():
    d = load_digits()
    x, y = d.data.astype(np.float32), d.target
    return torch.tensor(x[:1400]), torch.tensor(y[:1400]), torch.tensor(x[1400:]), torch.tensor(y[1400:])


def test_any_module_and_tensors(tmp_path):
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    spec = {"optim": {"name": "adam", "lr": 0.01}, "schedule": {"name": "constant"}, "train": {"epochs": 20}}
    final = babysitter.fit(spec, tmp_path / "run", model=model, data=_digits(), progress=False)
    # the returned model is the one given, trained in place; test accuracy recomputed independently
    x_test = torch.tensor(load_digits().data[1400:], dtype=torch.float32)
    y_test = load_digits().target[1400:]
    pre = babysitter.load_spec({"data": {"source": "npz"}}).data.preprocess
    assert pre == ["standardize"]
    stats = torch.load(tmp_path / "run" / "preprocess.pt", weights_only=True)
    from babysitter.data.preprocess import Preprocessor
    with torch.no_grad():
        acc = (model(Preprocessor.from_state_dict(stats)(x_test)).argmax(1).numpy() == y_test).mean()
    assert abs(final["test_acc"] - acc) < 1e-9
    assert final["test_acc"] > 0.9


def test_same_seed_same_weights():
    spec = babysitter.load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32], "dropout": 0.3},
                                 "train": {"epochs": 2}})
    runs = []
    for _ in range(2):
        from babysitter.train.run import build
        model, data = build(spec)
        Trainer(model, data, spec, progress=False).fit()
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_training_loss_follows_the_formula_on_one_step():
    """One plain-SGD step of the trainer equals W - lr * dL/dW computed by hand (softmax + L2)."""
    spec = babysitter.load_spec({"data": {"source": "digits"}, "model": {"kind": "linear"},
                                 "optim": {"name": "sgd", "lr": 0.5, "weight_decay": 0.0},
                                 "schedule": {"name": "constant"}, "regularize": {"l2": 0.01},
                                 "train": {"label_smoothing": 0.0}})
    from babysitter.train.run import build
    model, data = build(spec)
    x, y = data.x_train[:16].flatten(1), data.y_train[:16]
    w0, b0 = model.head.weight.detach().clone(), model.head.bias.detach().clone()
    Trainer(model, data, spec, progress=False).train_step(data.x_train[:16], y)
    p = torch.softmax(x @ w0.T + b0, 1)
    p[torch.arange(16), y] -= 1
    dw = p.T @ x / 16 + 2 * 0.01 * w0
    db = p.mean(0)
    assert torch.allclose(model.head.weight, w0 - 0.5 * dw, atol=1e-6)
    assert torch.allclose(model.head.bias, b0 - 0.5 * db, atol=1e-6)
