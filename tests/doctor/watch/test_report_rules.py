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


def test_a_dropout_that_drops_most_units_while_the_train_accuracy_stays_low_is_reg_too_strong():
    """nn.Dropout(p) drops the share p: Dropout(0.9), a keep-probability written as p, keeps 10 % of the
    units, and on the sklearn digits the train accuracy (read in train mode) ends at ~0.75. Its twin with
    Dropout(0.1) raises nothing; p >= 0.8 alone, with the accuracy high, is not judged."""
    import pytest
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from torch import nn

    import babysitter
    from babysitter.doctor.watch.report import dropout_too_strong

    d = load_digits()
    X = torch.tensor(d.data, dtype=torch.float32)
    X, y = (X - X.mean(0)) / (X.std(0) + 1e-6), torch.tensor(d.target)

    def run(p):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(p), nn.Linear(128, 64), nn.ReLU(),
                              nn.Linear(64, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        with babysitter.watch(probes=False) as doctor:
            for epoch in range(12):
                for idx in torch.randperm(1400).split(32):
                    loss = F.cross_entropy(model(X[idx]), y[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        return model, doctor

    model, doctor = run(0.9)
    (f,) = [f for f in doctor.findings if f["id"] == "reg_too_strong"]
    assert f["facts"]["dropout"] == pytest.approx(0.9) and f["facts"]["layer"] == "2" and f["facts"]["train_acc"] < 0.8
    assert doctor.findings[0]["id"] == "reg_too_strong" and "nn.Dropout(p=0.1)" in f["advice"]
    _, twin = run(0.1)
    assert twin.report["healthy"], twin.findings
    assert dropout_too_strong(model, [{"train_acc": 0.95}]) == []   # p = 0.9 with a high accuracy: not judged
