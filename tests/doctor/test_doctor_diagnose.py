"""The doctor end to end: babysit check / run / diagnose / clinic through the real CLI code."""

import json
import shutil
from pathlib import Path

import yaml

from babysitter.doctor.clinic import PUBLIC, run_clinic
from babysitter.doctor.spec_run import check, diagnose
from babysitter.doctor.findings import VOCABULARY
from tests.conftest import run_main

ROOT = Path(__file__).resolve().parents[2]



def _contract(report):
    assert set(report) == {"healthy", "findings", "probes"}
    for key in ("init_loss", "expected_init_loss", "reg_loss_delta", "overfit_tiny", "lr_range", "gradcheck_max_rel_error"):
        assert key in report["probes"]
    for f in report["findings"]:
        assert set(f) >= {"id", "severity", "layer", "evidence", "advice"} and f["id"] in VOCABULARY
    assert report["healthy"] == (not any(f["severity"] in ("error", "warning") for f in report["findings"]))


def test_check_names_zero_init_and_passes_a_healthy_spec():
    sick = check({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32, 32], "init": "zeros", "norm": "none"},
                  "optim": {"name": "momentum", "lr": 0.05}, "schedule": {"name": "constant"}, "train": {"epochs": 2}},
                 budget=10)
    _contract(sick)
    assert not sick["healthy"] and sick["findings"][0]["id"] == "symmetric_weights"
    well = check({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [64]}, "train": {"epochs": 4}}, budget=10)
    _contract(well)
    assert well["healthy"], well["findings"]


def test_run_writes_diagnosis_and_a_nan_run_exits_1_keeping_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "nan.yaml"
    # constant lr 1e4: the loss becomes NaN within the first epoch
    spec.write_text(yaml.safe_dump({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [32], "norm": "none"},
                                    "optim": {"name": "sgd", "lr": 1.0e4}, "schedule": {"name": "constant"},
                                    "train": {"epochs": 3}}))
    out = tmp_path / "run"
    code, stdout, err = run_main(monkeypatch, capsys, "run", spec, "--out", out, "--json")
    assert code == 1 and "loss_not_finite" in err
    result = json.loads(stdout)
    ids = [f["id"] for f in result["diagnosis"]["findings"]]
    assert "loss_not_finite" in ids and "lr_too_high" in ids[:2]
    assert json.loads((out / "final.json").read_text())["failed"]
    assert not (out / "checkpoints" / "last.pt").exists()  # no epoch ended with a finite loss: nothing saved
    again = diagnose(out)                                      # babysit diagnose reads the killed run the same way
    assert [f["id"] for f in again["findings"]][:2] == ids[:2]


def test_clinic_scores_a_small_clinic(tmp_path):
    clinic = tmp_path / "clinic"
    (clinic / "faulty").mkdir(parents=True)
    (clinic / "healthy").mkdir()
    shutil.copy(PUBLIC / "faulty" / "symmetric_weights--zeros-mlp-digits.yaml", clinic / "faulty")
    shutil.copy(PUBLIC / "healthy" / "linear-digits.yaml", clinic / "healthy")
    result = run_clinic(clinic, budget=10)
    assert (result["faults_named"], result["faults"], result["false_alarms"], result["healthy"]) == (1, 1, 0, 1)


def test_public_clinic_has_the_size_the_issue_asks_for():
    faulty = list((PUBLIC / "faulty").glob("*.yaml"))
    healthy = list((PUBLIC / "healthy").glob("*.yaml"))
    assert len(faulty) >= 20 and len(healthy) >= 10
    specs = [yaml.safe_load(p.read_text()) for p in faulty + healthy]
    assert len({s["data"]["source"] for s in specs}) >= 3
    assert len({s.get("model", {}).get("kind", "cnn") for s in specs}) >= 3
    assert {p.name.split("--")[0] for p in faulty} <= set(VOCABULARY)


def test_babysit_run_builds_the_data_once_and_hands_its_check_over_in_memory(monkeypatch, capsys, tmp_path):
    """check -> train -> diagnose: one load of the data set, and the diagnosis carries the check's
    findings without reading check.json back (it is written for the run dir's reader only)."""
    import json

    import babysitter.doctor.spec_run as spec_run
    import babysitter.train.run as run
    from tests.conftest import run_main

    loads, reads = [], []
    real_load, real_read = run.load_data, spec_run.read_json
    monkeypatch.setattr(run, "load_data", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    monkeypatch.setattr(spec_run, "read_json", lambda path, *a, **k: reads.append(Path(path).name) or real_read(path, *a, **k))
    spec = tmp_path / "s.yaml"
    spec.write_text("data: {source: digits}\nmodel: {kind: mlp, hidden: [16], init: zeros, norm: none}\n"
                    "train: {epochs: 1}\n")
    code, out, _ = run_main(monkeypatch, capsys, "run", spec, "--out", tmp_path / "run", "--json")
    assert code == 0 and len(loads) == 1
    assert "check.json" not in reads and (tmp_path / "run" / "check.json").is_file()
    diagnosis = json.loads(out)["diagnosis"]
    assert "symmetric_weights" in {f["id"] for f in diagnosis["findings"]}   # the check's own finding
