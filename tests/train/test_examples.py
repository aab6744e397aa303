"""The shipped example: the MNIST-1D paper's CNN through model.kind: python."""

from pathlib import Path

from babysitter.spec import load_spec, override
from babysitter.train.run import build, train

ROOT = Path(__file__).resolve().parents[2]


def test_paper_cnn_example_has_the_papers_shape_and_trains(monkeypatch):
    monkeypatch.chdir(ROOT)
    spec = load_spec(ROOT / "examples" / "mnist1d-paper-cnn.yaml")
    assert (spec.optim.name, spec.optim.lr, spec.train.batch_size) == ("adam", 0.01, 100)
    assert spec.train.epochs * 4000 // spec.train.batch_size == 6000   # the paper's 6000 steps
    model, data = build(spec)
    # conv 1->25 k5, 25->25 k3 twice, linear 125->10: weights + biases
    assert sum(p.numel() for p in model.parameters()) == (25 * 5 + 25) + 2 * (25 * 25 * 3 + 25) + (125 * 10 + 10)
    final = train(override(spec, **{"train.epochs": 2}), progress=False)
    assert final["steps"] == 80 and final["test_acc"] > 0.3


def test_fashion_example_builds_with_its_tricks():
    """examples/fashion-mnist.yaml: conv1 whitened on training patches, conv2 the identity."""
    import torch

    spec = override(load_spec(ROOT / "examples" / "fashion-mnist.yaml"), **{"data.subset": 500})
    assert spec.model.whiten_first and spec.model.dirac and spec.optim.norm_lr_scale == 16.0
    model, data = build(spec)
    w = model.conv2.weight
    identity = torch.zeros(32, 32, 3, 3)
    identity[:, :, 1, 1] = torch.eye(32)
    assert w.shape == (64, 32, 3, 3) and torch.equal(w[:32], identity)   # w[o, i, centre] = [o == i], o < 32
    assert model.conv1.bias.abs().sum() > 0    # whitening centres through the bias (He init leaves it 0)
