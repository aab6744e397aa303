"""A run's causes before their symptoms (causes.py, on facts), dead units seen through a zero
last-layer gradient, and the curve rules' reading of a watched run's epochs (small digits runs,
1 thread)."""

import torch
import torch.nn.functional as F
from torch import nn

import babysitter
from babysitter.doctor.readers.curves import _epoch_findings
from babysitter.doctor.causes import explain
from babysitter.doctor.findings import Finding, rank
from babysitter.doctor.remedies import ScriptHost, SpecHost, remedy
from babysitter.doctor.verdict import merge
from babysitter.spec import load_spec

from tests.doctor.test_watch import alarms, digits


def f(id, sev, score=1.0, **facts):
    """A finding with facts and NO evidence text: the rules read the facts alone."""
    return Finding(id, sev, "", "", score=score, facts=facts)


def top(findings):
    return [x.id for x in rank(explain(merge(findings))) if x.severity != "info"]


def test_a_non_finite_loss_ranks_before_the_gradients_it_made_non_finite():
    found = [f("exploding_gradients", "error", non_finite=True),
             f("dead_relu", "warning", fraction=1.0),
             f("loss_not_finite", "error", non_finite=True, step=40)]
    assert rank(found)[0].id == "exploding_gradients"        # without the explanation: the symptom first
    assert top(found)[0] == "loss_not_finite"


def test_a_loss_that_diverged_at_a_too_high_lr_names_the_lr_and_its_remedy_is_the_lr_cut():
    def found(**origin):
        return [f("exploding_gradients", "error", non_finite=True),
                f("lr_too_high", "warning", 0.7, lr=0.5, factor=10),      # e.g. the update ratio
                f("loss_not_finite", "error", non_finite=True, lr=0.5, step=40,
                  **({"origin": origin} if origin else {}))]
    diverged = found()
    assert top(diverged)[:2] == ["lr_too_high", "loss_not_finite"]
    lost = next(x for x in diverged if x.id == "loss_not_finite")
    assert lost.causes == ["lr_too_high"]
    spec = load_spec({"data": {"source": "digits"}, "optim": {"lr": 0.5}})
    assert remedy(lost, SpecHost(spec))[0] == {"optim.lr": [0.5, 0.05]}
    assert "lr=0.05" in remedy(lost, ScriptHost("SGD", 0.5))[1]
    # the weights had diverged when the op overflowed: still the lr
    assert top(found(module="fc1", op="linear", **{"pass": "forward"}, parameters_nonfinite=True))[0] == "lr_too_high"
    # the model's own op on finite weights, or the data: not the lr's doing
    assert top(found(module="norm", op="rsqrt", **{"pass": "forward"}, parameters_nonfinite=False))[0] == "loss_not_finite"
    assert top(found(module="fc1", op="linear", **{"pass": "forward"}, input_nonfinite=True))[0] == "loss_not_finite"
    at_init = [f("lr_too_high", "warning", 0.7, lr=0.5), f("loss_not_finite", "error", non_finite=True, at_init=True)]
    top(at_init)
    assert at_init[1].causes == []                            # at init: the init's doing, not the lr's


def test_an_exploding_loss_is_the_cause_of_dead_units_and_dead_units_of_zero_gradients():
    found = [f("vanishing_gradients", "warning", collapse=True),
             f("dead_relu", "warning", fraction=1.0),
             f("lr_too_high", "warning", 0.9, exploded=True)]
    assert top(found)[:2] == ["lr_too_high", "dead_relu"]
    flat = [f("lr_too_low", "warning"),
            f("vanishing_gradients", "warning", at_init=True),
            f("dead_relu", "warning", at_init=True, last_grad_zero=True)]
    assert top(flat) == ["dead_relu"]


def test_rewording_the_evidence_changes_no_verdict():
    """The same facts under other words (or none) rank the same: no rule reads the text."""
    worded = [Finding("exploding_gradients", "warning", "gradients explode at init", "", score=0.6,
                      facts={"at_init": True}),
              Finding("lr_too_high", "warning", "see exploding_gradients; the loss explodes; exactly 0; 100%", "",
                      score=0.9)]
    plain = [Finding("exploding_gradients", "warning", "x", "", score=0.6, facts={"at_init": True}),
             Finding("lr_too_high", "warning", "y", "", score=0.9)]
    assert top(worded) == top(plain) == ["exploding_gradients"]


def test_negative_biases_kill_every_functional_relu_and_dead_relu_is_named_first():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = digits(320)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.out = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 10)

        def forward(self, v):
            return self.out(F.relu(self.fc2(F.relu(self.fc1(v)))))

    model = Net()
    for layer in (model.fc1, model.fc2):
        layer.bias.data.fill_(-100.0)     # far below any pre-activation of standardized digits
    F.cross_entropy(model(x), y).backward()   # torch's own gradient: the last layer's is exactly 0
    assert float(model.out.weight.grad.norm()) == 0.0 and float(model.out.weight.detach().norm()) > 0
    model.zero_grad()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with babysitter.watch(budget=5) as doctor:
        for _ in range(3):
            for i in range(0, len(x), 32):
                opt.zero_grad()
                F.cross_entropy(model(x[i:i + 32]), y[i:i + 32]).backward()
                opt.step()
    assert alarms(doctor)[:1] == ["dead_relu"], doctor.findings
    assert "lr_too_low" not in alarms(doctor) and "vanishing_gradients" not in alarms(doctor)


SPEC = load_spec({"data": {"source": "digits"}})


def rows(train_loss, val_loss, train_acc=None, val_acc=None):
    n = len(train_loss)
    ta, va = train_acc or [None] * n, val_acc or [None] * n
    return [{"epoch": e + 1, "train_loss": t, "val_loss": v, "train_acc": a, "val_acc": b}
            for e, (t, v, a, b) in enumerate(zip(train_loss, val_loss, ta, va))]


def test_a_rising_val_loss_is_overfitting_without_accuracies_and_a_falling_one_is_not():
    # the digits overfitting script's epochs: val loss 0.354 -> 0.606 (1.71x) while train loss -> 5e-5
    got = _epoch_findings(rows([0.888, 0.0278, 5.8e-4, 1.05e-4, 5.4e-5], [0.354, 0.438, 0.546, 0.592, 0.606]),
                          SPEC, {}, None)
    assert [x.id for x in got] == ["overfitting"] and round(got[0].facts["val_rise"], 2) == 1.71
    healthy = _epoch_findings(rows([0.9, 0.5, 0.3, 0.25], [0.8, 0.5, 0.4, 0.42]), SPEC, {}, None)  # 1.05x its min
    assert healthy == []


def test_the_gap_uses_the_latest_epoch_that_read_each_accuracy():
    r = rows([0.9, 0.03, 6e-4, 1e-4], [0.35, 0.44, 0.55, 0.59], [0.82, None, 1.0, None], [None, None, None, 0.8625])
    got = _epoch_findings(r, SPEC, {}, None)
    assert got and got[0].id == "overfitting" and got[0].severity == "warning"
    assert got[0].facts["gap"] == 1.0 - 0.8625


def test_a_window_rise_the_epoch_means_do_not_show_is_not_lr_too_high():
    from babysitter.doctor.readers.curves import classify

    # breast cancer, a 10-example last batch: windows near 0 "rise" 12.6x their minimum
    windows = [(k, m, 0.0) for k, m in enumerate([0.6, 0.3, 0.1, 0.03, 0.0106, 0.012, 0.134, 0.134])]
    falling = rows([0.545, 0.2, 0.08, 0.0375], [None] * 4)
    lr = [x for x in classify(windows, falling, SPEC) if x.id == "lr_too_high"]
    assert [x.severity for x in lr] == ["info"] and lr[0].facts["rises"]
    rising = rows([0.545, 0.1, 0.03, 0.2], [None] * 4)      # 0.2 > 1.05 x 0.03: the epochs rise too
    assert [x.severity for x in classify(windows, rising, SPEC) if x.id == "lr_too_high"] == ["warning"]
