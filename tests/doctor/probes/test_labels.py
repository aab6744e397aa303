"""doctor/probes/labels.py: unshuffled_data (distinct labels per batch against what shuffled batches
hold) and labels_look_random (a copy fits its batches but scores chance on later ones), on a Kit."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.doctor.probes.kit import Kit
from babysitter.doctor.probes.labels import expected_distinct, probe_labels, probe_shuffling


def test_expected_distinct_labels_match_a_simulation():
    """C (1 - (1 - 1/C)^B) against 20000 simulated batches of B labels drawn from C classes."""
    rng = np.random.default_rng(0)
    for c, b in ((10, 32), (4, 3), (100, 64)):
        draws = rng.integers(0, c, size=(20000, b))
        simulated = np.mean([len(np.unique(row)) for row in draws])
        assert expected_distinct(c, b) == pytest.approx(simulated, rel=0.01)


def _blobs(n=256, classes=4, d=16, seed=0):
    """Gaussian blobs: the class is learnable from x (the centres are 6 std apart)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    centres = 6 * torch.randn(classes, d, generator=g)
    return centres[y] + torch.randn(n, d, generator=g), y


def _kit(x, y, bs=32, classes=4):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, classes))
    batches = [(x[i:i + bs], y[i:i + bs]) for i in range(0, len(x), bs)]
    return Kit.from_run(model, torch.optim.Adam(model.parameters(), lr=1e-2), F.cross_entropy, batches,
                        "cross_entropy", classes)


def test_class_sorted_batches_are_unshuffled_and_shuffled_ones_are_not():
    x, y = _blobs()
    order = torch.argsort(y, stable=True)
    numbers, found = probe_shuffling(_kit(x[order], y[order]))
    distinct = [len(np.unique(y[order][i:i + 32].numpy())) for i in range(0, 256, 32)]
    assert numbers["batch_labels"]["distinct"] == distinct and max(distinct) <= 2
    assert numbers["batch_labels"]["expected"] == pytest.approx(4 * (1 - 0.75 ** 32))
    assert [f.id for f in found] == ["unshuffled_data"]
    assert probe_shuffling(_kit(x, y))[1] == []


def test_random_labels_look_random_and_real_ones_do_not():
    x, y = _blobs()
    numbers, found = probe_labels(_kit(x, y))
    assert found == [] and numbers["labels"]["real"]["held_out_acc"] > 0.9
    assert numbers["labels"]["chance"] == 0.25 and numbers["labels"]["held_out"] == 64
    noise = torch.randint(0, 4, (256,), generator=torch.Generator().manual_seed(5))   # labels independent of x
    numbers, found = probe_labels(_kit(x, noise))
    real = numbers["labels"]["real"]
    assert real["train_loss_last"] < 0.8 * np.log(4)          # the copy fitted the labels it saw ...
    assert real["held_out_acc"] <= 0.25 + numbers["labels"]["margin"]   # ... and scores chance on the rest
    assert [f.id for f in found] == ["labels_look_random"]
