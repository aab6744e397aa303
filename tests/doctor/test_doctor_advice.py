"""doctor/advice.py: every finding's ``changes`` gives a valid spec for every clinic spec, picks the
alternative that fits the spec, and carries the numbers its evidence measured."""

import pytest
import torch

from babysitter.doctor.advice import FITTING_INIT, apply, changes_for, parse_edits
from babysitter.doctor.clinic import PUBLIC
from babysitter.doctor.findings import VOCABULARY, Finding
from babysitter.spec import load_spec

CLINIC = sorted(PUBLIC.glob("*/*.yaml"))

# Advice texts as the doctor writes them (probes.py, instruments.py, curves.py), for a spec at lr 0.05.
ADVICE = {"lr_too_high": "optim.lr: 0.05 -> 0.005", "lr_too_low": "optim.lr: 0.05 -> 0.5",
          "reg_too_strong": "regularize.l2: 1 -> 0.1", "noisy_loss": "train.batch_size: 2 -> 32; optim.lr: lower it",
          "loss_not_finite": "optim.lr: 0.05 -> 0.005; train.clip_norm: 1.0"}
PROBES = {"lr_range": {"suggested": 0.01, "low": 1e-4, "high": 0.1}}


@pytest.mark.parametrize("path", CLINIC, ids=[p.stem for p in CLINIC])
def test_every_finding_gives_a_valid_spec_on_every_clinic_spec(path, monkeypatch):
    spec = load_spec(path)
    for fid in VOCABULARY:
        for severity in ("warning", "error"):
            f = Finding(fid, severity, "evidence", ADVICE.get(fid, "advice"))
            changes = changes_for(f, spec, PROBES)
            treated = apply(spec, changes)                     # validated again by load_spec
            assert load_spec(treated.to_dict()) == treated
            for key, (old, new) in changes.items():
                section, leaf = key.split(".")
                assert getattr(getattr(spec, section), leaf) == old != new
                assert getattr(getattr(treated, section), leaf) == new


def test_the_lr_goes_to_the_range_tests_suggestion_on_the_right_side():
    spec = load_spec(PUBLIC / "faulty/lr_too_high--sgd-mlp-digits.yaml")   # lr 8
    high = Finding("lr_too_high", "warning", "", "optim.lr: 8 -> 0.8")
    assert changes_for(high, spec, {"lr_range": {"suggested": 0.0391}}) == {"optim.lr": [8.0, 0.039]}
    # a suggestion above the lr cannot treat an lr that is too high: the advice's own number
    assert changes_for(high, spec, {"lr_range": {"suggested": 20.0}}) == {"optim.lr": [8.0, 0.8]}
    low = Finding("lr_too_low", "warning", "", "optim.lr: 8 -> 80")
    assert changes_for(low, spec, {"lr_range": {"suggested": 20.0}}) == {"optim.lr": [8.0, 20.0]}


def test_alternatives_are_picked_for_the_spec():
    base = {"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32], "init": "small", "norm": "none"}}
    vanishing = Finding("vanishing_gradients", "warning", "", "model.init: he (relu) or xavier (tanh); model.norm: batch")
    for activation, init in (("relu", "he"), ("tanh", "xavier"), ("elu", "he"), ("selu", "lecun")):
        spec = load_spec({**base, "model": {**base["model"], "activation": activation}})
        assert changes_for(vanishing, spec)["model.init"] == ["small", init] == ["small", FITTING_INIT[activation]]
    # "don't use sigmoid": ReLU with He init instead of Xavier under a saturating, off-centre unit
    sigmoid = load_spec({**base, "model": {**base["model"], "activation": "sigmoid"}})
    assert changes_for(vanishing, sigmoid) == {"model.activation": ["sigmoid", "relu"], "model.init": ["small", "he"]}
    # the init already fits: batch norm next, then (a saturating non-linearity) ReLU
    fitted = load_spec({**base, "model": {**base["model"], "activation": "tanh", "init": "xavier"}})
    assert changes_for(vanishing, fitted) == {"model.norm": ["none", "batch"]}
    normed = apply(fitted, changes_for(vanishing, fitted))
    assert changes_for(vanishing, normed) == {"model.activation": ["tanh", "relu"], "model.init": ["xavier", "he"]}


def test_code_faults_and_unreachable_edits_give_no_change():
    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32]}})
    assert changes_for(Finding("gradient_check_failed", "error", "", "a custom layer's backward is wrong"), spec) == {}
    # batch norm over batches of one is refused by the spec: the edit is dropped, not half-applied
    one = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32], "init": "he", "norm": "none"},
                     "train": {"batch_size": 1}})
    assert changes_for(Finding("vanishing_gradients", "warning", "", ""), one) == {}


def test_weight_decay_replaces_an_l2_penalty_that_reaches_no_weight():
    """l2 sum W^2 has gradient 2 l2 W; weight decay wd adds wd W: wd = 2 l2 takes the same step."""
    spec = load_spec({"data": {"source": "digits"}, "optim": {"name": "sgd", "lr": 0.1, "weight_decay": 0.0},
                      "regularize": {"l2": 0.01}})
    changes = changes_for(Finding("reg_does_not_raise_loss", "warning", "", ""), spec)
    assert changes == {"regularize.l2": [0.01, 0.0], "optim.weight_decay": [0.0, 0.02]}
    w = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    penalized = w.clone().requires_grad_()
    (0.01 * (penalized ** 2).sum()).backward()
    decayed = torch.nn.Parameter(w.clone())
    decayed.grad = torch.zeros_like(w)
    torch.optim.SGD([decayed], lr=0.1, weight_decay=changes["optim.weight_decay"][1]).step()
    torch.testing.assert_close(decayed.detach(), w - 0.1 * penalized.grad)


def test_parse_edits_reads_the_numbers_of_an_advice_text():
    assert parse_edits("optim.lr: 8 -> 0.05; train.clip_norm: 1.0") == {"optim.lr": 0.05}
    assert parse_edits("train.batch_size: 2 -> 32 (or model.norm: none)") == {"train.batch_size": 32}
    assert parse_edits("model.init: xavier; model.norm: batch") == {}


@pytest.mark.parametrize("name", ["exploding_gradients--normal-relu-deep-mlp-digits", "noisy_loss--bn-batch2-mlp-digits"])
def test_a_real_checks_findings_carry_changes_that_load(name):
    """The report of ``check`` itself: each finding's changes apply to the spec and load again;
    the cause named first gets the edit its rule gives (He for a ReLU net at N(0, 1) weights,
    the advice's batch size for batch norm over 2 examples)."""
    from babysitter.doctor.diagnose import check

    spec = load_spec(PUBLIC / f"faulty/{name}.yaml")
    report = check(spec, budget=1.0)
    assert all("changes" in f for f in report["findings"])
    for f in report["findings"]:
        assert load_spec(apply(spec, f["changes"]).to_dict())
    by_id = {f["id"]: f["changes"] for f in report["findings"]}
    if name.startswith("exploding"):
        assert by_id["exploding_gradients"] == {"model.init": ["normal", "he"]}
    else:
        assert by_id["noisy_loss"] == {"train.batch_size": [2, 32]}
