"""Linear classifiers on features from several stages (the lecture's advice for very little data)."""

import numpy as np
import torch

from babysitter.spec import load_spec
from babysitter.transfer import stage_features, stage_probe
from babysitter.transfer.run import target_data
from babysitter.transfer.source import read_source
from babysitter.transfer.source import source_model as rebuild

def _target(mnist1d_source, model_section, per_class=5):
    spec = load_spec({"data": {"source": "mnist1d", "val_fraction": 0.0, "options": {"per_class": per_class}},
                      "model": model_section})
    src = read_source(mnist1d_source, spec)
    data = target_data(spec, src.preprocess)
    return rebuild(src, data.sample_shape, data.num_classes, 0), data

def test_stage_features_are_the_pooled_block_inputs(mnist1d_source, source_model):
    model, data = _target(mnist1d_source, source_model)
    model.eval()
    x = data.x_train[:7]
    seen, h = {}, x
    with torch.no_grad():  # walk the Sequential by hand, keeping what enters conv2 and the head
        for name, child in model.named_children():
            seen[name] = h.numpy().copy()
            h = child(h)
    a, z = seen["conv2"], seen["head"]                           # (N, C, L), (N, D)
    n, c, length = a.shape
    expected = np.concatenate([a.mean(2), a.reshape(n, c, 2, length // 2).mean(3).reshape(n, 2 * c), z], 1)
    np.testing.assert_allclose(stage_features(model, x).numpy(), expected, rtol=1e-5, atol=1e-6)

def test_stage_probe_learns_from_five_examples_per_class(mnist1d_source, source_model):
    model, data = _target(mnist1d_source, source_model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = stage_probe(model, data, seed=0)
    assert out["C"] in (0.001, 0.01, 0.1, 1.0) and out["val_acc"] is None
    assert out["test_acc"] > 0.3                                 # 10 classes: chance is 0.1
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the network is untouched
