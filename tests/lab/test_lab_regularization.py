"""Lab regularization: gaps against their parts, clean train accuracy against numpy, the CLI."""

import json

import numpy as np
import pytest

from babysitter.errors import BadInput
from babysitter.lab import regularization
from babysitter.lab.common import base_spec, fit
from babysitter.data import load_data
from babysitter.spec import load_spec
from tests.conftest import run_main


def test_train_accuracy_is_eval_mode_accuracy_on_the_training_set():
    spec = load_spec(base_spec({"source": "digits", "subset": 80, "augment": ["shift:1"]}, 0, 2, 0.05,
                               kind="mlp", hidden=[32], dropout=0.5))
    data = load_data(spec.data, 0)
    clean = regularization.TrainAccuracy()
    trainer, _ = fit(spec, data, callbacks=[clean])
    model = trainer.model.eval()
    logits = model(data.x_train).detach().numpy()
    expected = float(np.mean(logits.argmax(axis=1) == data.y_train.numpy()))
    assert len(clean.curve) == 2 and clean.curve[-1] == pytest.approx(expected)


def test_tiny_lab_run_gaps_baselines_and_claims(tmp_path):
    s = regularization.run(tmp_path / "lab", progress=False, epochs=3, train_examples=120,
                           only=("stochastic_depth", "dropout"))
    assert json.loads((tmp_path / "lab" / "summary.json").read_text()) == s
    assert s["train_examples"] == 120
    by = {r["variant"]: r for r in s["runs"]}
    assert list(by) == ["none", "dropout", "resnet", "stochastic_depth"]   # baselines added, table order
    assert by["dropout"]["baseline"] == "none" and by["stochastic_depth"]["baseline"] == "resnet"
    for r in s["runs"]:
        assert r["gap"] == pytest.approx(r["train_acc"] - r["val_acc"])
        assert r["train_acc"] == r["train_curve"][-1] and r["val_acc"] == r["val_curve"][-1]
        assert len(r["train_curve"]) == 3 and 0 <= r["test_acc"] <= 1
    holds = {c["claim"].split()[0]: c["holds"] for c in s["claims"][1:]}
    for variant, baseline in (("dropout", "none"), ("stochastic_depth", "resnet")):
        r, b = by[variant], by[baseline]
        assert holds[variant] == (r["gap"] < b["gap"] and r["val_acc"] > b["val_acc"])
    assert s["claims"][0]["holds"] == (by["none"]["train_acc"] - by["none"]["val_acc"] > 0.1)
    assert (tmp_path / "lab" / "regularization.png").stat().st_size > 1000


def test_unknown_variant_and_dataset_are_refused(tmp_path):
    with pytest.raises(BadInput, match="unknown variant 'mixup'; valid: none, l2"):
        regularization.run(tmp_path / "r", progress=False, only=("mixup",))
    with pytest.raises(BadInput, match="unknown dataset 'cifar'"):
        regularization.run(tmp_path / "r", progress=False, dataset="cifar")
    assert not (tmp_path / "r").exists()


def test_cli_json_and_exit_2(monkeypatch, capsys, tmp_path):
    code, stdout, _ = run_main(monkeypatch, capsys, "lab", "regularization", "--out", tmp_path / "cli", "--epochs", "2",
                               "--examples", "60", "--variants", "l2", "--json")
    assert code in (0, None)
    s = json.loads(stdout)
    assert [r["variant"] for r in s["runs"]] == ["none", "l2"] and s["train_examples"] == 60
    code, _, err = run_main(monkeypatch, capsys, "lab", "regularization", "--dataset", "imagenet", "--json")
    assert code == 2 and err.startswith("babysit: error: unknown dataset 'imagenet'; valid: mnist1d")
