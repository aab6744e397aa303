"""doctor/verdict.py (the one pipeline), doctor/thresholds.py (every threshold once) and the step
budget of check's monitored training (doctor/spec_run.py)."""

import math
from types import SimpleNamespace

from babysitter.doctor import spec_run, thresholds
from babysitter.doctor.findings import Finding
from babysitter.doctor.probes import init_gradients, spec_probes
from babysitter.doctor.readers import curves
from babysitter.doctor.readers import instruments as judges
from babysitter.doctor.remedies import ScriptHost, SpecHost
from babysitter.doctor.verdict import merge, verdict
from babysitter.spec import load_spec


def test_merge_keeps_the_strongest_and_joins_facts_and_causes():
    weak = Finding("lr_too_high", "error", "a", score=0.3, facts={"non_finite": True, "causes": ["loss_not_finite"]})
    strong = Finding("lr_too_high", "warning", "b", score=0.8, facts={"exploded": True, "causes": ["reg_too_strong"]})
    (m,) = merge([weak, strong])
    assert m is strong and m.severity == "error" and m.evidence == "b; a"
    assert m.facts["exploded"] and m.facts["non_finite"]
    assert m.causes == ["reg_too_strong", "loss_not_finite"]


def test_one_pipeline_writes_each_hosts_remedy_and_the_same_verdict():
    spec = load_spec({"data": {"source": "digits"}, "optim": {"lr": 0.5}})
    found = lambda: [Finding("lr_too_high", "warning", "", score=0.7, facts={"lr": 0.5, "factor": 10})]  # noqa: E731
    on_spec = verdict(found(), SpecHost(spec), {"p": 1})
    on_script = verdict(found(), ScriptHost("SGD", 0.5), {"p": 1})
    assert set(on_spec) == {"healthy", "findings", "probes"} and on_spec["probes"] == {"p": 1}
    assert on_spec["findings"][0]["changes"] == {"optim.lr": [0.5, 0.05]}
    assert "optim.lr: 0.5 -> 0.05" in on_spec["findings"][0]["advice"]
    assert on_script["findings"][0]["changes"] == {} and "lr=0.05" in on_script["findings"][0]["advice"]
    assert on_spec["healthy"] is on_script["healthy"] is False


def test_every_reader_reads_the_one_threshold():
    """The init probes, the in-run judges and the curve reader use thresholds.py's objects."""
    for name in ("VANISHING_RATIO", "EXPLODING_NORM", "DEAD_WARN", "SATURATED_WARN", "SYMMETRIC_ERROR",
                 "UPDATE_HIGH_PEAK", "UPDATE_LOW_WARN"):
        assert getattr(judges, name) is getattr(thresholds, name)
    for name in ("EXPLODE_FACTOR", "NOISE_CV", "GAP_WARN", "UNDERFIT_ACC", "REG_SHARE"):
        assert getattr(curves, name) is getattr(thresholds, name)
    assert init_gradients.VANISHING_AT_INIT is thresholds.VANISHING_AT_INIT
    assert init_gradients.EXPLODING_AT_INIT is thresholds.EXPLODING_AT_INIT
    assert spec_probes.BN_MIN_BATCH is thresholds.BN_MIN_BATCH and spec_probes.IMBALANCE is thresholds.IMBALANCE
    # the init-loss margin m = 0.5 + 0.1 ln C: C = 10 gives 0.73 (the docstring's number)
    assert thresholds.init_loss_margin(10) == 0.5 + 0.1 * math.log(10)


def test_monitor_steps_come_from_the_run_not_the_clock():
    spec = load_spec({"data": {"source": "digits"}, "train": {"epochs": 4, "batch_size": 128}})
    assert spec_run.monitor_steps(spec, 1294) == 4 * 11                       # the whole schedule
    long = load_spec({"data": {"source": "digits"}, "train": {"epochs": 2, "batch_size": 2}})
    assert spec_run.monitor_steps(long, 1294) == thresholds.MONITOR_STEPS     # capped in steps


def test_the_budget_stops_at_its_step_and_the_time_cap_says_so():
    trainer = SimpleNamespace(step=0, stop_requested=False)
    steps = spec_run.Budget(25, seconds=math.inf)
    steps.before_fit(trainer)
    while not trainer.stop_requested:
        trainer.step += 1
        steps.after_step(trainer)
    assert trainer.step == 25 and not steps.stopped_by_time
    trainer = SimpleNamespace(step=0, stop_requested=False)
    cap = spec_run.Budget(1000, seconds=0.0, every=10)    # a cap already spent: cut at the first check
    cap.before_fit(trainer)
    while not trainer.stop_requested:
        trainer.step += 1
        cap.after_step(trainer)
    assert trainer.step == 10 and cap.stopped_by_time
