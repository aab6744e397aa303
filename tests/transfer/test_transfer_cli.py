"""`babysit transfer`: bad input exits 2 with one line and writes nothing; --json says the decision."""

import json

import torch
import yaml

from tests.conftest import run_main


def _target(tmp_path, model, **data):
    spec = {"data": {"source": "mnist1d", "options": {"per_class": 20}, **data}, "model": model,
            "train": {"epochs": 1, "batch_size": 50}}
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path

def test_checkpoint_that_does_not_fit_exits_2(tmp_path, monkeypatch, capsys, mnist1d_source, source_model):
    state = torch.load(mnist1d_source / "checkpoints" / "last.pt", weights_only=True)["model"]
    torch.save(state, tmp_path / "weights.pt")  # a bare state_dict, read with the TARGET spec's model
    wider = {**source_model, "hidden": [8, 32]}
    code, out, err = run_main(monkeypatch, capsys, "transfer", _target(tmp_path, wider), "--from", tmp_path / "weights.pt",
                              "--out", tmp_path / "run")
    assert code == 2 and out == ""
    assert err.startswith("babysit: error: transfer: checkpoint") and "size mismatch for conv2.weight" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()

def test_everything_frozen_exits_2(tmp_path, monkeypatch, capsys, mnist1d_source, source_model):
    code, _, err = run_main(monkeypatch, capsys, "transfer", _target(tmp_path, source_model), "--from", mnist1d_source,
                            "--strategy", "linear_probe", "--set", "transfer.freeze=[head]", "--out", tmp_path / "run")
    assert code == 2 and "every block is frozen, nothing would train" in err and not (tmp_path / "run").exists()

def test_usage_errors_exit_2(tmp_path, monkeypatch, capsys, mnist1d_source, source_model):
    spec = _target(tmp_path, source_model)
    for args, says in ((("transfer", spec), "usage: babysit transfer"),
                       (("transfer", spec, "--from", mnist1d_source, "--strategy", "probe"), "valid: linear_probe"),
                       (("transfer", spec, "--pretrain", "jigsaw"), "valid: supervised, autoencoder, shift"),
                       (("transfer", spec, "--from", tmp_path / "nowhere"), "no such run dir")):
        code, _, err = run_main(monkeypatch, capsys, *args)
        assert code == 2 and says in err, (args, err)

def test_json_reports_the_decision_and_writes_a_run_dir(tmp_path, monkeypatch, capsys, mnist1d_source, source_model):
    code, out, _ = run_main(monkeypatch, capsys, "transfer", _target(tmp_path, source_model), "--from", mnist1d_source,
                            "--strategy", "finetune_top", "--set", "optim.lr=0.05", "--out", tmp_path / "run", "--json")
    assert code == 0
    result = json.loads(out)
    t = result["transfer"]
    assert t["strategy"] == "finetune_top" and t["frozen"] == t["blocks"][:-2]
    assert t["lr"] == {"head": 0.05, "backbone": 0.05 * 0.1}
    saved = json.loads((tmp_path / "run" / "final.json").read_text())
    assert saved["transfer"] == t and saved["test_acc"] == result["test_acc"]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1
    assert (tmp_path / "run" / "preprocess.pt").is_file()  # the source's preprocessing, reused
    src = torch.load(mnist1d_source / "preprocess.pt", weights_only=True)
    assert torch.equal(torch.load(tmp_path / "run" / "preprocess.pt", weights_only=True)["0.mean"], src["0.mean"])
