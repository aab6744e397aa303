"""babysit treat: the loop applies the doctor's own advice, undoes a change that makes things worse,
leaves a healthy spec alone, and the CLI writes treated.yaml / treat.json / treat.png / report.html."""

import json

import numpy as np
import yaml

from babysitter.doctor.advice import apply
from babysitter.doctor.treat import advised, burden, heal, random_change, worse
from babysitter.doctor.clinic import PUBLIC
from babysitter.spec import load_spec
from tests.conftest import run_main

LR8 = PUBLIC / "faulty/lr_too_high--sgd-mlp-digits.yaml"   # plain SGD at lr 8: diverges
HEALTHY = {"name": "well", "data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [64]}, "train": {"epochs": 3}}


def _report(*severities, val=None):
    return {"healthy": not any(s in ("error", "warning") for s in severities),
            "findings": [{"id": "lr_too_high", "severity": s, "changes": {}} for s in severities],
            "probes": {"monitored_training": {"val_acc": val}}}


def test_worse_counts_errors_twice_then_reads_the_monitored_val_accuracy():
    assert burden(_report("error", "warning", "info")) == 3
    assert worse(_report("error"), _report("warning")) and not worse(_report("warning"), _report("error"))
    assert worse(_report("warning", val=0.5), _report("warning", val=0.6))       # as ill, 0.1 lower
    assert not worse(_report("warning", val=0.59), _report("warning", val=0.6))  # within 0.02
    assert not worse(_report(val=0.1), _report("warning", val=0.9))              # fewer alarms wins


def test_treat_applies_the_range_tests_lr_and_undoes_a_harmful_change():
    seen, harmful = [], {"model.init": ["he", "zeros"]}

    def choose(spec, report, tried):  # first a change that breaks the net, then the doctor's advice
        seen.append(report)
        if len(seen) == 1:
            return "symmetric_weights", harmful
        return advised(spec, report, tried)

    healed = heal(load_spec(LR8), rounds=3, budget=2.0, choose=choose)
    first, second = healed["rounds"][:2]
    assert first["changes"] == harmful and not first["kept"]    # zero init: more alarms -> undone
    assert "symmetric_weights" in first["found_after"]
    suggested = seen[1]["probes"]["lr_range"]["suggested"]      # the same spec's range test (lr 8)
    assert second["treated"] == "lr_too_high" and second["kept"]
    assert second["changes"] == {"optim.lr": [8.0, float(f"{suggested:.2g}")]}
    assert healed["healthy"] and healed["spec"].optim.lr == float(f"{suggested:.2g}")
    assert healed["spec"].model.init == "he" and healed["checks"] == 3


def test_random_change_edits_one_key_to_a_valid_value():
    spec = load_spec(LR8)
    choose = random_change(np.random.default_rng(0))
    for _ in range(20):
        _, changes = choose(spec, {}, set())
        (key, (old, new)), = changes.items()
        assert old != new and apply(spec, changes) is not None
        if key == "optim.lr":
            assert 8.0 * 10 ** -2.05 <= new <= 8.0 * 10 ** 2.05


def test_cli_leaves_a_healthy_spec_unchanged(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "well.yaml"
    spec.write_text(yaml.safe_dump(HEALTHY))
    out = tmp_path / "treat"
    code, stdout, _ = run_main(monkeypatch, capsys, "treat", spec, "--out", out, "--budget", 2, "--json")
    assert code in (0, None)
    result = json.loads(stdout)
    assert result["healthy"] and result["rounds"] == [] and result["same_spec"]
    assert result["spec"] == load_spec(spec).to_dict() == yaml.safe_load((out / "treated.yaml").read_text())
    assert result["before"] == result["after"]
    assert result["before"]["val_acc"] == json.loads((out / "before/metrics.jsonl").read_text().splitlines()[-1])["val_acc"]
    assert json.loads((out / "treat.json").read_text()) == {k: v for k, v in result.items() if k != "report"}
    page = (out / "before/report.html").read_text()
    assert "Treatment (babysit treat)" in page and "no change: the doctor found the spec healthy" in page
    assert (out / "treat.png").stat().st_size > 1000


def test_cli_bad_input_is_one_line_and_overwrites_nothing(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "well.yaml"
    spec.write_text(yaml.safe_dump(HEALTHY))
    code, _, err = run_main(monkeypatch, capsys, "treat", spec, "--rounds", -1, "--out", tmp_path / "x")
    assert code == 2 and "--rounds" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    code, _, err = run_main(monkeypatch, capsys, "treat", spec, "--out", taken)
    assert code == 2 and "already exists" in err and (taken / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in taken.iterdir()) == ["keep.txt"]
