"""doctor/remedies.py, the one remedy table: for every finding id on every clinic spec the ``changes``
load as a spec and the advice names each changed key with its new value; the alternative that fits
the spec is picked; a script host gets the code change; the same facts rank the same on both hosts."""

from pathlib import Path

import pytest
import torch

from babysitter.doctor.findings import CODE_FAULTS, VOCABULARY, Finding
from babysitter.doctor.code_changes import CODE
from babysitter.doctor.remedies import ScriptHost, SpecHost, apply, next_remedy, remedy, show, spec_changes
from babysitter.doctor.spec_edits import FITTING_INIT, new_lr
from babysitter.doctor.verdict import verdict
from babysitter.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
CLINIC = sorted((ROOT / "src" / "babysitter" / "clinic").glob("*/*.yaml"))
PROBES = {"lr_range": {"suggested": 0.01, "low": 1e-4, "high": 0.1}}
# facts the readers write, one variant each (the remedy reads them, never the wording)
FACTS = ({}, {"at_init": True}, {"below_chance": True}, {"penalized": 0}, {"penalized": 12},
         {"suggested": 3e-3, "factor": 100}, {"non_finite": True}, {"batch_size": 2, "batch_norm": True})


def changed_keys_named(advice: str, changes: dict) -> bool:
    """Every changed key appears in the advice with its new value (``key: old -> new``)."""
    return all(f"{k}: {show(old)} -> {show(new)}" in advice for k, (old, new) in changes.items())


@pytest.mark.parametrize("path", CLINIC, ids=[p.stem for p in CLINIC])
def test_every_finding_gives_a_spec_that_loads_and_advice_that_names_it(path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))  # the clinic's python factories
    spec = load_spec(path)
    for fid in VOCABULARY:
        for severity in ("warning", "error", "info"):
            for facts in FACTS:
                f = Finding(fid, severity, "evidence", facts=dict(facts))
                changes, advice = remedy(f, SpecHost(spec, PROBES))
                treated = apply(spec, changes)                     # validated again by load_spec
                assert load_spec(treated.to_dict()) == treated
                assert advice and changed_keys_named(advice, changes), (fid, changes, advice)
                for key, (old, new) in changes.items():
                    section, leaf = key.split(".")
                    assert getattr(getattr(spec, section), leaf) == old != new
                    assert getattr(getattr(treated, section), leaf) == new
                if fid in CODE_FAULTS:
                    assert changes == {}


def test_a_script_host_gets_the_code_change_and_no_spec_edit():
    host = ScriptHost("Adam", 0.5)
    for fid in VOCABULARY:
        changes, advice = remedy(Finding(fid, "warning", ""), host)
        assert changes == {} and advice, fid
    _, lower = remedy(Finding("lr_too_high", "warning", "", facts={"lr": 0.5, "factor": 100}), host)
    assert lower == "lower the learning rate: torch.optim.Adam(..., lr=0.5) -> lr=0.005"
    # a non-finite loss at init is the model's or the data's overflow, not the lr's
    _, at_init = remedy(Finding("loss_not_finite", "error", "", facts={"at_init": True, "non_finite": True}), host)
    assert at_init == CODE["loss_not_finite"] and "lr" not in at_init
    _, later = remedy(Finding("loss_not_finite", "error", "", facts={"non_finite": True}), host)
    assert "lr=0.05" in later and "clip_grad_norm_" in later
    # where it started (facts["origin"]) picks the change: the data, or the op that overflowed
    data = Finding("loss_not_finite", "error", "", facts={"origin": {"module": "fc1", "op": "linear", "pass": "forward",
                                                                     "input_nonfinite": True}})
    assert remedy(data, host)[1].startswith("the data holds non-finite values")
    log = Finding("loss_not_finite", "error", "", facts={"origin": {"module": None, "op": "log", "pass": "forward",
                                                                    "input_nonfinite": False}})
    assert remedy(log, host)[1].startswith("log in the forward pass produced") and "lr" not in remedy(log, host)[1]


def test_the_same_facts_rank_the_same_on_a_spec_host_and_a_watch_host():
    spec = load_spec(ROOT / "src/babysitter/clinic/faulty/exploding_gradients--normal-relu-deep-mlp-digits.yaml")

    def found():
        return [Finding("lr_too_high", "warning", "", score=0.9, facts={"exploded": True}),
                Finding("exploding_gradients", "warning", "", score=0.6, facts={"at_init": True}),
                Finding("dead_relu", "warning", "", score=0.7, facts={"fraction": 1.0}),
                Finding("loss_not_finite", "error", "", score=1.0, facts={"non_finite": True}),
                Finding("underfitting", "warning", "", score=0.4)]
    on_spec = verdict(found(), SpecHost(spec), {})
    on_script = verdict(found(), ScriptHost("SGD", 0.01), {})
    key = lambda r: [(f["id"], f["severity"]) for f in r["findings"]]  # noqa: E731
    assert key(on_spec) == key(on_script)
    assert on_spec["findings"][0]["changes"] and not any(f["changes"] for f in on_script["findings"])


def test_the_lr_goes_to_the_range_tests_suggestion_on_the_right_side():
    spec = load_spec(ROOT / "src/babysitter/clinic/faulty/lr_too_high--sgd-mlp-digits.yaml")   # lr 8
    high = Finding("lr_too_high", "warning", "")
    assert spec_changes(high, spec, {"lr_range": {"suggested": 0.0391}}) == {"optim.lr": [8.0, 0.039]}
    # a suggestion above the lr cannot treat an lr that is too high: the reader's factor (10 by default)
    assert spec_changes(high, spec, {"lr_range": {"suggested": 20.0}}) == {"optim.lr": [8.0, 0.8]}
    by_100 = Finding("lr_too_high", "warning", "", facts={"factor": 100})
    assert spec_changes(by_100, spec) == {"optim.lr": [8.0, 0.08]}
    low = Finding("lr_too_low", "warning", "")
    assert spec_changes(low, spec, {"lr_range": {"suggested": 20.0}}) == {"optim.lr": [8.0, 20.0]}


def test_alternatives_are_picked_for_the_spec():
    base = {"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32], "init": "small", "norm": "none"}}
    vanishing = Finding("vanishing_gradients", "warning", "")
    for activation, init in (("relu", "he"), ("tanh", "xavier"), ("elu", "he"), ("selu", "lecun")):
        spec = load_spec({**base, "model": {**base["model"], "activation": activation}})
        assert spec_changes(vanishing, spec)["model.init"] == ["small", init] == ["small", FITTING_INIT[activation]]
    # "don't use sigmoid": ReLU with He init instead of Xavier under a saturating, off-centre unit
    sigmoid = load_spec({**base, "model": {**base["model"], "activation": "sigmoid"}})
    assert spec_changes(vanishing, sigmoid) == {"model.activation": ["sigmoid", "relu"], "model.init": ["small", "he"]}
    # the init already fits: batch norm next, then (a saturating non-linearity) ReLU
    fitted = load_spec({**base, "model": {**base["model"], "activation": "tanh", "init": "xavier"}})
    assert spec_changes(vanishing, fitted) == {"model.norm": ["none", "batch"]}
    normed = apply(fitted, spec_changes(vanishing, fitted))
    assert spec_changes(vanishing, normed) == {"model.activation": ["tanh", "relu"], "model.init": ["xavier", "he"]}


def test_a_remedy_that_did_not_cure_leads_to_the_next_on_its_path():
    """init, then normalisation, then activation: what ``babysit treat`` tries after a failed edit."""
    import json

    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32, 32], "activation": "tanh",
                                                              "init": "small", "norm": "none"}})
    first = next_remedy("vanishing_gradients", spec, set())
    assert first == {"model.init": ["small", "xavier"]}
    second = next_remedy("vanishing_gradients", spec, {json.dumps(first, sort_keys=True)})
    assert second == {"model.norm": ["none", "batch"]}
    third = next_remedy("vanishing_gradients", spec, {json.dumps(c, sort_keys=True) for c in (first, second)})
    assert third == {"model.activation": ["tanh", "relu"], "model.init": ["small", "he"]}
    assert next_remedy("overfitting", spec, set()) == {}


def test_code_faults_and_unreachable_edits_give_no_change():
    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32]}})
    assert spec_changes(Finding("gradient_check_failed", "error", ""), spec) == {}
    # batch norm over batches of one is refused by the spec: the edit is dropped, not half-applied
    one = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32], "init": "he", "norm": "none"},
                     "train": {"batch_size": 1}})
    assert spec_changes(Finding("vanishing_gradients", "warning", ""), one) == {}


def test_weight_decay_replaces_an_l2_penalty_that_reaches_no_weight():
    """l2 sum W^2 has gradient 2 l2 W; weight decay wd adds wd W: wd = 2 l2 takes the same step."""
    spec = load_spec({"data": {"source": "digits"}, "optim": {"name": "sgd", "lr": 0.1, "weight_decay": 0.0},
                      "regularize": {"l2": 0.01}})
    changes = spec_changes(Finding("reg_does_not_raise_loss", "warning", "", facts={"penalized": 0}), spec)
    assert changes == {"regularize.l2": [0.01, 0.0], "optim.weight_decay": [0.0, 0.02]}
    assert spec_changes(Finding("reg_does_not_raise_loss", "info", "", facts={"penalized": 640}), spec) == {}
    w = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    penalized = w.clone().requires_grad_()
    (0.01 * (penalized ** 2).sum()).backward()
    decayed = torch.nn.Parameter(w.clone())
    decayed.grad = torch.zeros_like(w)
    torch.optim.SGD([decayed], lr=0.1, weight_decay=changes["optim.weight_decay"][1]).step()
    torch.testing.assert_close(decayed.detach(), w - 0.1 * penalized.grad)


@pytest.mark.parametrize("name", ["exploding_gradients--normal-relu-deep-mlp-digits", "noisy_loss--bn-batch2-mlp-digits"])
def test_a_real_checks_findings_carry_changes_that_load(name):
    """The report of ``check`` itself: each finding's changes apply to the spec and load again, and
    its advice names them; the cause named first gets the edit its rule gives (He for a ReLU net at
    N(0, 1) weights, max(4 B, 32) for batch norm over 2 examples)."""
    from babysitter.doctor.spec_run import check

    spec = load_spec(ROOT / f"src/babysitter/clinic/faulty/{name}.yaml")
    report = check(spec)   # the monitored steps come from the run: the same on any machine
    assert report["probes"]["stopped_by_time"] is False
    done = report["probes"]["monitored_training"]
    # every planned step, unless the loss became non-finite (which stops any run at the same step)
    assert done["steps"] == done["planned_steps"] or "loss_not_finite" in {f["id"] for f in report["findings"]}
    for f in report["findings"]:
        assert load_spec(apply(spec, f["changes"]).to_dict())
        assert changed_keys_named(f["advice"], f["changes"])
    by_id = {f["id"]: f["changes"] for f in report["findings"]}
    if name.startswith("exploding"):
        assert by_id["exploding_gradients"] == {"model.init": ["normal", "he"]}
    else:
        assert by_id["noisy_loss"] == {"train.batch_size": [2, 32]}


def test_new_lr_takes_a_suggestion_on_the_right_side_else_the_factor():
    """The one lr rule of both halves of the table (a spec edit and a script's code change)."""
    assert new_lr(0.5, True, (0.01,)) == 0.01
    assert new_lr(0.5, True, (2.0,)) == 0.05                 # a suggestion above a too-high lr is no cut
    assert new_lr(0.5, True, (None, 0.2), 100) == 0.2
    assert new_lr(1e-5, False, (), 100) == 1e-3
    assert new_lr(0.123456, True) == 0.012                   # two significant digits: 0.0123456 -> 0.012


def test_init_loss_off_moves_along_its_path_init_then_a_smaller_head_then_standardised_inputs():
    """The issue's dead end (a fitting init, batch norm on, or a linear model: no change) is gone: the
    output layer's scale is what sets the scores at init."""
    import json

    off = Finding("init_loss_off", "warning", "", facts={"at_init": True, "gap": 3.0})
    for kind, norm in (("mlp", "batch"), ("linear", "none")):
        base = {"data": {"source": "digits", "preprocess": []},
                "model": {"kind": kind, "hidden": [32], "init": "he", "norm": norm}}
        spec = load_spec(base)
        assert spec_changes(off, spec) == {"model.head_init_scale": [None, 0.1]}
        small = load_spec({**base, "model": {**base["model"], "head_init_scale": 0.001}})
        assert spec_changes(off, small) == {"data.preprocess": [[], ["standardize"]]}
        done = load_spec({**base, "data": {"source": "digits", "preprocess": ["standardize"]},
                          "model": {**base["model"], "head_init_scale": 0.001}})
        assert spec_changes(off, done) == {}
        # treat's path from the spec: the same steps, each tried once
        first = next_remedy("init_loss_off", spec, set())
        assert first == {"model.head_init_scale": [None, 0.1]}
        assert next_remedy("init_loss_off", spec, {json.dumps(first, sort_keys=True)}) == \
            {"data.preprocess": [[], ["standardize"]]}
    unfit = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32], "init": "normal"}})
    assert spec_changes(off, unfit) == {"model.init": ["normal", "he"]}
