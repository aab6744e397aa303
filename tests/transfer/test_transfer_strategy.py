"""The lecture's 2x2 table with measured similarity, and transfers that really help."""

import numpy as np
import pytest
import torch

from babysitter.spec import load_spec
from babysitter.train.run import train
from babysitter.transfer import choose, feature_distance, transfer
from babysitter.transfer.strategy import balanced_slice, probe_accuracy


def test_auto_picks_linear_probe_for_little_similar_data(mnist1d_source, source_model):
    spec = {"data": {"source": "mnist1d", "options": {"per_class": 5}}, "model": source_model,
            "train": {"epochs": 2, "batch_size": 25}}
    final = transfer(spec, mnist1d_source, progress=False)
    t = final["transfer"]
    assert (t["strategy"], t["cell"], t["examples_per_class"]) == ("linear_probe", "little data, similar", 5)
    assert t["distance"] < 0.2 and t["gain"] == round(t["probe_acc_pretrained"] - t["probe_acc_random"], 4)
    assert t["frozen"] == t["blocks"][:-1] and "linear classifier" in t["reason"]


def test_auto_picks_finetune_all_for_a_lot_of_different_data(mnist1d_source, digits_as_sequences, source_model):
    spec = {"data": {"source": "npz", "path": str(digits_as_sequences), "options": {"per_class": 100}},
            "model": source_model, "transfer": {"source_preprocess": False}, "train": {"epochs": 1}}
    final = transfer(spec, mnist1d_source, progress=False)
    t = final["transfer"]
    assert (t["strategy"], t["cell"]) == ("finetune_all", "a lot of data, different")
    assert t["distance"] > 0.2 and t["frozen"] == []


def test_the_table():
    near, far = {"distance": 0.01, "gain": -0.1}, {"distance": 0.5, "gain": 0.3}
    assert choose(10, near)["strategy"] == "linear_probe" and choose(10, near)["cell"] == "little data, similar"
    assert choose(10, far)["strategy"] == "linear_probe" and choose(10, far)["cell"] == "little data, different"
    assert choose(100, near)["strategy"] == "finetune_top"
    assert choose(100, far)["strategy"] == "finetune_all"
    assert choose(100, near, small_per_class=101)["cell"] == "little data, similar"
    no_norm = {"distance": None, "probe_acc_pretrained": 0.9, "probe_acc_random": 0.5, "gain": 0.4}
    assert choose(100, no_norm)["strategy"] == "finetune_top" and "gain +0.400" in choose(100, no_norm)["reason"]


def test_feature_distance_is_the_symmetric_kl_to_the_running_statistics():
    bn = torch.nn.BatchNorm1d(3)
    model = torch.nn.Sequential(bn, torch.nn.Linear(3, 2))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g, dtype=torch.float64).float() * torch.tensor([1.0, 2.0, 0.5]) + 3
    bn.running_mean.copy_(torch.tensor([0.0, 1.0, 3.0]))
    bn.running_var.copy_(torch.tensor([1.0, 4.0, 2.0]))
    xs = x.double().numpy()
    mt, vt = xs.mean(0), xs.var(0) + bn.eps
    ms, vs = np.array([0.0, 1.0, 3.0]), np.array([1.0, 4.0, 2.0]) + bn.eps
    kl = lambda m1, v1, m2, v2: 0.5 * (np.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1)  # noqa: E731
    assert feature_distance(model, x) == pytest.approx(np.mean((kl(mt, vt, ms, vs) + kl(ms, vs, mt, vt)) / 2), rel=1e-4)
    bn.running_mean.copy_(torch.tensor(mt, dtype=torch.float32))
    bn.running_var.copy_(torch.tensor(xs.var(0), dtype=torch.float32))
    assert feature_distance(model, x) < 1e-6  # the source's own statistics: no distance
    assert feature_distance(torch.nn.Sequential(torch.nn.Linear(3, 2)), x) is None


def test_probe_accuracy_separates_separable_from_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat(10)
    separable = torch.nn.functional.one_hot(y, 4).double() * 5 + torch.randn(40, 4, generator=g, dtype=torch.float64)
    noise = torch.randn(40, 4, generator=g, dtype=torch.float64)
    assert probe_accuracy(separable, y) == 1.0
    assert probe_accuracy(noise, y) < 0.6
    idx = balanced_slice(y, 3)
    assert np.bincount(y[idx].numpy()).tolist() == [3, 3, 3, 3]


def test_linear_probe_beats_scratch_with_five_examples_per_class(mnist1d_source, source_model):
    spec = load_spec({"data": {"source": "mnist1d", "val_fraction": 0.0, "options": {"per_class": 5}},
                      "model": source_model, "train": {"epochs": 40, "batch_size": 50}})
    scratch = train(spec, progress=False)["test_acc"]
    probe = transfer(spec, mnist1d_source, strategy="linear_probe", progress=False)
    assert probe["transfer"]["lr"] == {"head": spec.optim.lr, "backbone": spec.optim.lr * 0.1}
    assert probe["test_acc"] > scratch + 0.05
