"""doctor/watch/report.py's rules on the run's evidence: an lr_too_high read from the update/weight
ratio alone gives way to the experiments (the range test, the run's own curve)."""

from babysitter.doctor.findings import Finding
from babysitter.doctor.readers.instruments import update_ratio_findings
from babysitter.spec import load_spec
from babysitter.doctor.watch.report import ratio_within_range


def _ratio_finding(lr=1.0):
    spec = load_spec({"data": {"source": "digits"}, "optim": {"lr": lr}})
    (f,) = update_ratio_findings({"overall_median": 0.04, "step_median": [0.05, 0.044, 0.04]}, spec)
    return f


def test_a_ratio_only_lr_too_high_is_info_where_the_range_test_s_loss_still_falls():
    f = _ratio_finding()
    assert (f.id, f.severity) == ("lr_too_high", "warning")
    (kept,) = ratio_within_range([f], {"lr_range": {"high": 4.43}}, 1.0)
    assert kept.severity == "info" and kept.facts["range_high"] == 4.43


def test_it_stays_a_warning_beyond_the_range_test_s_high_or_when_other_evidence_agrees():
    assert ratio_within_range([_ratio_finding()], {"lr_range": {"high": 0.5}}, 1.0)[0].severity == "warning"
    assert ratio_within_range([_ratio_finding()], {}, 1.0)[0].severity == "warning"   # no range test ran
    curve = Finding("lr_too_high", "warning", "the loss rose", facts={"source": "curve"})
    out = ratio_within_range([_ratio_finding(), curve], {"lr_range": {"high": 4.43}}, 1.0)
    assert [f.severity for f in out] == ["warning", "warning"]
