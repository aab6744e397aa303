"""A cause that a finding's facts name (``facts["causes"]``) is a finding of its own, ranked above it."""

from babysitter.doctor.findings import Finding, rank, report
from babysitter.doctor.readers.instruments import findings
from babysitter.doctor.remedies import SpecHost, attach
from babysitter.spec import load_spec


def _spec(l2, lr, wd=0.0):
    return load_spec({"data": {"source": "digits"}, "optim": {"name": "sgd", "lr": lr, "weight_decay": wd},
                      "regularize": {"l2": l2}})


def _summaries(peak, med, dead):
    return {"UpdateRatio": {"overall_median": med, "step_median": [peak, med, med]},
            "Activations": {"kinds": {"act1": "relu"}, "last": {"dead": {"act1": dead}}, "window": 4, "layers": ["act1"]}}


def test_penalty_step_makes_reg_too_strong_a_finding_above_its_symptoms():
    # lr * 2 * l2 = 0.2 * 2 * 0.5 = 0.2 per step >= half the largest step median 0.3: the penalty's own step
    spec = _spec(l2=0.5, lr=0.2)
    out = attach(findings(_summaries(peak=0.3, med=0.1, dead=0.6), spec), SpecHost(spec))
    ids = [f.id for f in out]
    assert ids.index("reg_too_strong") < ids.index("dead_relu") < ids.index("lr_too_high")
    reg = out[ids.index("reg_too_strong")]
    assert reg.severity == "warning" and reg.changes == {"regularize.l2": [0.5, 0.05]}
    assert reg.facts["decay"] == 0.2 * 2 * 0.5
    assert "regularize.l2: 0.5 -> 0.05" in reg.advice     # the text is written from the change
    assert out[ids.index("dead_relu")].causes == ["reg_too_strong"]
    assert out[ids.index("lr_too_high")].severity == "info"
    # the same through the report's ranking
    assert [f["id"] for f in report(out, {})["findings"]][0] == "reg_too_strong"


def test_no_penalty_no_reg_finding():
    # lr * (2 l2 + wd) = 0.2 * 0.001 far below the update ratio: the lr is the suspect, the ReLUs are not linked
    out = findings(_summaries(peak=0.3, med=0.1, dead=0.6), _spec(l2=0.0, lr=0.2, wd=1e-3))
    ids = [f.id for f in out]
    assert "reg_too_strong" not in ids and ids[0] == "lr_too_high"
    assert out[ids.index("dead_relu")].causes == []


def test_rank_puts_a_cited_cause_before_its_symptom():
    symptom = Finding("dead_relu", "warning", "units dead", "", score=0.9, facts={"causes": ["reg_too_strong"]})
    cause = Finding("reg_too_strong", "warning", "penalty 60% of the objective", "", score=0.2)
    other = Finding("overfitting", "warning", "gap 0.3", "", score=0.5)
    assert [f.id for f in rank([symptom, other, cause])] == ["reg_too_strong", "dead_relu", "overfitting"]
    # the words "see X" alone cite nothing: rank reads the facts
    worded = Finding("dead_relu", "warning", "units dead (see reg_too_strong)", "", score=0.9)
    assert [f.id for f in rank([worded, other, cause])] == ["dead_relu", "overfitting", "reg_too_strong"]


def test_a_penalty_that_pulls_the_weights_to_zero_explains_their_symptoms():
    """reg_too_strong: tiny weights pass tiny gradients (vanishing_gradients) and make any update large
    beside them (lr_too_high from the update ratio): info, its symptoms; the copy that cannot memorise
    20 examples carries the penalty too: still an error, with its cause named."""
    from babysitter.doctor.causes import explain

    out = explain([Finding("vanishing_gradients", "warning", "v", score=1.0, facts={"first_last": 1e-7}),
                   Finding("lr_too_high", "warning", "u", score=0.78, facts={"update_ratio": 0.14}),
                   Finding("cannot_overfit_tiny", "error", "c", score=0.8),
                   Finding("reg_too_strong", "warning", "r", score=0.87, facts={"reg_share": 0.87})])
    by = {f.id: f for f in out}
    assert by["vanishing_gradients"].severity == "info" and by["lr_too_high"].severity == "info"
    assert by["cannot_overfit_tiny"].severity == "error"
    assert all(by[i].causes == ["reg_too_strong"] for i in ("vanishing_gradients", "lr_too_high", "cannot_overfit_tiny"))
    assert [f["id"] for f in report(out, {})["findings"]][0] == "reg_too_strong"
    alone = explain([Finding("vanishing_gradients", "warning", "v", score=1.0)])
    assert alone[0].severity == "warning" and alone[0].causes == []
