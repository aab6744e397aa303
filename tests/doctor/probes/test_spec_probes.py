"""doctor/probes/spec_probes.py and spec_kit.py, the preflight probes on a spec: each measured number
checked against an independent computation."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from babysitter.data import load_data
from babysitter.doctor import thresholds
from babysitter.doctor.findings import report
from babysitter.doctor.probes import spec_probes as P
from babysitter.doctor.probes.spec_kit import draw, spec_kit, without_regularization
from babysitter.doctor.remedies import SpecHost, remedy
from babysitter.spec import load_spec, override
from tests.doctor.probes.cases import DIGITS_MLP, NanAfter, factory, ids, spec_of


# ---------------------------------------------------------------- data
def _npz_data(tmp_path, x, y, preprocess):
    np.savez(tmp_path / "d.npz", x=x, y=y)
    spec = load_spec({"data": {"source": "npz", "path": str(tmp_path / "d.npz"), "preprocess": preprocess}})
    return spec, load_data(spec.data, spec.seed)


def test_data_statistics_match_numpy_and_raw_pixels_are_flagged(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(600, 1, 6, 6)).astype(np.float32)     # raw 0..255 pixels
    y = np.arange(600) % 4
    y[:150] = 0                                                            # class 0 has 3x more
    spec, data = _npz_data(tmp_path, x, y, [])
    numbers, findings = P.probe_data(spec, data)
    d, xt = numbers["data"], data.x_train.numpy().astype(np.float64)
    assert d["mean"] == pytest.approx(xt.mean(), rel=1e-9)
    assert d["std"] == pytest.approx(xt.std(), rel=1e-9)
    assert (d["min"], d["max"], d["nan"]) == (xt.min(), xt.max(), 0)
    assert d["feature_std_max"] == pytest.approx(xt.reshape(len(xt), -1).std(0).max(), rel=1e-9)
    counts = np.bincount(data.y_train.numpy(), minlength=4)
    assert d["class_counts"] == counts.tolist()
    assert d["imbalance"] == pytest.approx(counts.max() / counts.min())
    f = ids(findings)["data_not_normalized"]
    assert f.severity == "warning" and f.facts["std"] == pytest.approx(d["std"])
    assert remedy(f, SpecHost(spec))[0] == {"data.preprocess": [[], ["standardize"]]}


def test_a_constant_offset_is_flagged_and_standardized_data_is_not(tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((500, 8)) + 10.0).astype(np.float32)           # std 1, mean 10
    y = np.arange(500) % 2
    spec, data = _npz_data(tmp_path, x, y, [])
    assert ids(P.probe_data(spec, data)[1])["data_not_normalized"].severity == "warning"
    spec, data = _npz_data(tmp_path, x, y, ["standardize"])
    numbers, findings = P.probe_data(spec, data)
    assert abs(numbers["data"]["mean"]) < 1e-6 and numbers["data"]["std"] == pytest.approx(1.0, abs=1e-6)
    assert findings == []


def test_raw_digits_in_0_1_are_only_uncentred(digits):
    """sklearn digits / 16: scale fine (std ~0.4), all positive (mean ~0.8 std): info, not warning."""
    spec = override(load_spec(DIGITS_MLP), **{"data.preprocess": []})
    data = load_data(spec.data, spec.seed)
    numbers, findings = P.probe_data(spec, data)
    xt = data.x_train.numpy().astype(np.float64)
    assert numbers["data"]["mean"] == pytest.approx(xt.mean(), rel=1e-9)
    assert 0.5 < xt.mean() / xt.std() < 2.0
    assert [(f.id, f.severity) for f in findings] == [("data_not_normalized", "info")]
    assert P.probe_data(load_spec(DIGITS_MLP), digits)[1] == []   # the standardized digits


# ---------------------------------------------------------------- init loss
def test_small_init_loss_is_ln_c(digits):
    numbers, findings = P.probe_init_loss(spec_of(**{"model.init": "small"}), digits, factory(digits))
    assert numbers["expected_init_loss"] == pytest.approx(np.log(10))
    assert abs(numbers["init_loss"] - np.log(10)) < 0.05
    assert findings == []


def test_big_normal_init_of_a_deep_tanh_net_is_off(digits):
    spec = spec_of(**{"model.init": "normal", "model.activation": "tanh", "model.hidden": [100] * 4, "model.norm": "none"})
    numbers, findings = P.probe_init_loss(spec, digits, factory(digits))
    model = factory(digits)(spec)          # the same seeded init, scored independently
    with torch.no_grad():
        idx = draw(digits, P.INIT_EXAMPLES, spec.seed)
        logits = model(digits.x_train[idx]).double()
    y = digits.y_train[idx].numpy()
    z = logits.numpy()
    loss = np.mean(np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1) - z[np.arange(len(y)), y])
    assert numbers["init_loss"] == pytest.approx(loss, rel=1e-4)
    assert numbers["init_loss"] > np.log(10) + 2
    f = ids(findings)["init_loss_off"]
    assert f.severity == "warning" and f.facts["at_init"] and f.facts["gap"] > 2
    # the remedy: the init that fits tanh (Glorot), and the advice says so
    changes, advice = remedy(f, SpecHost(spec))
    assert changes["model.init"] == ["normal", "xavier"] and "model.init: normal -> xavier" in advice


def test_he_init_scores_of_std_about_one_are_no_warning(digits):
    """He init keeps unit variance to the scores: loss ~ ln C + 0.5, at most an info."""
    spec = spec_of(**{"model.norm": "none"})
    for seed in range(3):
        numbers, findings = P.probe_init_loss(override(spec, seed=seed), digits, factory(digits))
        assert 0.5 < numbers["init_score_std"] < 2.0
        assert all(f.severity == "info" for f in findings)


def test_a_nan_loss_at_init_is_an_error(digits):
    numbers, findings = P.probe_init_loss(spec_of(), digits, lambda s: NanAfter(after=0))
    assert numbers["init_loss"] is None
    assert [(f.id, f.severity) for f in findings] == [("loss_not_finite", "error")]


# ---------------------------------------------------------------- regularization
def test_reg_loss_delta_is_l2_times_sum_of_squared_weights(digits):
    spec = spec_of(**{"regularize.l2": 1e-3})
    numbers, findings = P.probe_regularization(spec, digits, factory(digits))
    model = factory(digits)(spec)
    expected = 1e-3 * sum((m.weight.detach().double().numpy() ** 2).sum() for m in model.modules()
                          if isinstance(m, nn.Linear))
    assert expected > 0
    assert numbers["reg_loss_delta"] == pytest.approx(expected, rel=1e-9)
    assert findings == []
    assert P.probe_regularization(spec_of(), digits, factory(digits)) == ({"reg_loss_delta": 0.0}, [])


def test_zero_weights_make_a_zero_penalty_reported_as_info(digits):
    numbers, findings = P.probe_regularization(spec_of(**{"model.init": "zeros", "regularize.l1": 1e-3}),
                                               digits, factory(digits))
    assert numbers["reg_loss_delta"] == 0.0 and numbers["reg_penalized_weights"] == 64 * 64 + 64 * 10
    assert [(f.id, f.severity) for f in findings] == [("reg_does_not_raise_loss", "info")]


class MatrixSoftmax(nn.Module):
    """A softmax classifier with a bare parameter matrix: scores = x W (no nn.Linear)."""

    def __init__(self, d: int, c: int):
        super().__init__()
        self.w = nn.Parameter(0.01 * torch.randn(d, c))

    def forward(self, x):
        return x.flatten(1) @ self.w


def test_a_penalty_that_reaches_no_weight_is_caught(digits):
    spec = override(load_spec({**DIGITS_MLP, "model": {"kind": "python", "factory": "any:thing"}}),
                    **{"regularize.l2": 1e-2})
    make = lambda s: (torch.manual_seed(s.seed), MatrixSoftmax(64, 10))[1]
    numbers, findings = P.probe_regularization(spec, digits, make)
    assert numbers["reg_loss_delta"] == 0.0 and numbers["reg_weight_parameters"] == 640
    f = ids(findings)["reg_does_not_raise_loss"]
    assert f.severity == "warning" and f.facts["penalized"] == 0 and numbers["reg_weight_parameters"] == 640


# ---------------------------------------------------------------- overfit a tiny subset
def test_a_healthy_mlp_overfits_20_examples(digits):
    numbers, findings = P.probe_overfit_tiny(spec_of(), digits, factory(digits))
    tiny = numbers["overfit_tiny"]
    assert tiny["examples"] == 20 and tiny["train_acc"] == 1.0 and 0 < tiny["steps"] < thresholds.TINY_STEPS
    assert findings == []


def test_a_tiny_lr_cannot_overfit_and_leaves_the_init_accuracy(digits):
    spec = spec_of(**{"optim.lr": 1e-7})
    numbers, findings = P.probe_overfit_tiny(spec, digits, factory(digits))
    tiny = numbers["overfit_tiny"]
    assert tiny["steps"] == thresholds.TINY_STEPS
    model = factory(digits)(without_regularization(spec))   # 300 steps of 1e-7 move nothing
    idx = draw(digits, 20, spec.seed)
    with torch.no_grad():
        init_acc = (model(digits.x_train[idx]).argmax(1) == digits.y_train[idx]).float().mean().item()
    assert abs(tiny["train_acc"] - init_acc) <= 1 / 20 and tiny["train_acc"] < 1.0
    f = ids(findings)["cannot_overfit_tiny"]
    assert f.severity == "error" and f.facts["train_acc"] == tiny["train_acc"] and f.facts["lr"] == 1e-7


# ---------------------------------------------------------------- gradient check
class WrongBackward(torch.autograd.Function):
    """y = x^2 with the backward 3x instead of 2x: a broken custom layer."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * g


class Squared(nn.Module):
    def forward(self, x):
        return WrongBackward.apply(x)


def test_gradient_check_passes_a_healthy_net_and_fails_a_wrong_backward(digits):
    numbers, findings = P.probe_gradcheck(spec_of(), digits, factory(digits))
    assert numbers["gradcheck_max_rel_error"] < 1e-6 and findings == []

    def broken(s):
        torch.manual_seed(s.seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), Squared(), nn.Linear(16, 10))

    numbers, findings = P.probe_gradcheck(spec_of(), digits, broken)
    assert numbers["gradcheck_max_rel_error"] > 0.1      # 3x vs 2x: |3 - 2| / (3 + 2) = 0.2 on the first layer
    assert ids(findings)["gradient_check_failed"].severity == "error"


# ---------------------------------------------------------------- learning-rate range test
def test_the_probes_restore_the_model_bit_for_bit(digits):
    """A make_model that hands out one module: every probe trains or runs it in train mode
    (batch-norm running stats move), and every probe puts it back."""
    model = factory(digits)(spec_of(**{"model.dropout": 0.2}))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    probes, _ = P.run_probes(spec_of(), digits, lambda s: model, seeds=2)
    assert all(r["steps"] > 10 for r in probes["lr_range"]["seeds"])     # it did train this very model
    assert probes["overfit_tiny"]["steps"] > 0
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert "bn1.running_mean" in after and not model.training


# ---------------------------------------------------------------- all of them
def test_run_probes_reports_the_design_keys_and_a_healthy_spec(digits):
    probes, findings = P.run_probes(spec_of(), digits, factory(digits), seeds=3)
    for key in ("init_loss", "expected_init_loss", "reg_loss_delta", "overfit_tiny", "lr_range",
                "gradcheck_max_rel_error", "data", "seconds"):
        assert key in probes
    assert set(probes["overfit_tiny"]) >= {"examples", "steps", "train_acc"}
    assert set(probes["lr_range"]) >= {"suggested", "low", "high"}
    assert set(probes["seconds"]) == {"data", "init_loss", "init_gradients", "batch_statistics", "regularization",
                                      "overfit_tiny", "gradcheck", "lr_range"}
    assert [f.id for f in findings if f.severity != "info"] == []
    json.dumps(report(findings, probes), allow_nan=False)                  # strict JSON: no NaN, no numpy


def test_init_gradient_norms_match_a_direct_backward(digits):
    """probe_init_gradients' per-layer norms equal torch.linalg.vector_norm of a hand-run backward."""
    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32, 16], "norm": "none"},
                      "train": {"batch_size": 64}})
    numbers, found = P.probe_init_gradients(spec, digits, factory(digits))
    model = factory(digits)(without_regularization(spec))
    idx = draw(digits, 64, spec.seed + 1)
    torch.nn.functional.cross_entropy(model(digits.x_train[idx]), digits.y_train[idx]).backward()
    for name in ("fc1", "fc2", "head"):
        expected = float(torch.linalg.vector_norm(getattr(model, name).weight.grad))
        assert numbers["init_grad_norms"][name] == pytest.approx(expected, rel=1e-5)
    assert found == []


def test_deep_normal_init_explodes_and_small_init_vanishes_at_init(digits):
    deep = [128] * 6
    normal = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": deep, "init": "normal",
                                                                "norm": "none"}})
    small = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": deep, "init": "small",
                                                               "activation": "tanh", "norm": "none"}})
    assert [f.id for f in P.probe_init_gradients(normal, digits, factory(digits))[1]] == ["exploding_gradients"]
    assert [f.id for f in P.probe_init_gradients(small, digits, factory(digits))[1]] == ["vanishing_gradients"]


def test_batch_norm_on_two_examples_is_flagged(digits):
    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32]},
                      "train": {"batch_size": 2}})
    numbers, found = P.probe_batch_statistics(spec, digits, factory(digits))
    assert [f.id for f in found] == ["noisy_loss"] and numbers["bn_batch_loss_std"] > 0
    ok = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32]}})
    assert P.probe_batch_statistics(ok, digits, factory(digits)) == ({}, [])


def test_class_imbalance_is_reported_as_info(digits):
    keep = torch.cat([torch.nonzero(digits.y_train != 0).flatten(), torch.nonzero(digits.y_train == 0).flatten()[:10]])
    skewed = type(digits)(digits.x_train[keep], digits.y_train[keep], digits.x_val, digits.y_val, digits.x_test,
                          digits.y_test, num_classes=10, name="skewed")
    numbers, found = P.probe_data(spec_of(), skewed)
    counts = np.bincount(skewed.y_train.numpy(), minlength=10)
    assert numbers["data"]["imbalance"] == pytest.approx(counts.max() / counts.min())
    assert [(f.id, f.severity) for f in found] == [("class_imbalance", "info")]
    assert P.probe_data(spec_of(), digits)[1] == []


def test_a_spec_kit_trains_with_the_trainers_own_step(digits):
    """SpecKit.fresh's step is the Trainer's (clipping, penalty, ...), not the kit's plain step:
    with train.clip_norm c, one plain-SGD step moves the parameters by lr * c in norm (the clipped
    gradient), where the plain step would move them by lr * |g| (|g| >> c at init)."""
    spec = spec_of(**{"train.clip_norm": 1e-3})
    kit = spec_kit(spec, digits, factory(digits), without_regularization(spec), draw(digits, 64, 0))
    model, _, step = kit.fresh()
    before = [p.detach().clone() for p in model.parameters()]
    x, y = kit.xy()
    loss, logits = step(x, y)
    moved = math.sqrt(sum(float(((p.detach() - b) ** 2).sum()) for p, b in zip(model.parameters(), before)))
    assert moved == pytest.approx(0.1 * 1e-3, rel=1e-3)
    assert logits.shape == (64, 10) and loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)))
    assert all(torch.equal(a, b) for a, b in zip(kit.model.state_dict().values(), factory(digits)(kit.trains).state_dict().values()))
