"""Pretraining without labels (autoencoder) and on an auxiliary task (shift), measured."""

import json

import torch

from babysitter.spec import load_spec
from babysitter.transfer import pretrain, transfer
from babysitter.transfer.pretrain import roll_last, shift_task
from babysitter.data import load_data


def test_autoencoder_lowers_reconstruction_error_and_its_encoder_transfers(tmp_path, source_model):
    spec = load_spec({"data": {"source": "mnist1d", "subset": 1000}, "model": source_model,
                      "train": {"epochs": 10, "batch_size": 64}})
    final = pretrain(spec, tmp_path / "ae", "autoencoder", progress=False)
    assert final["reconstruction_mse_after"] < 0.8 * final["reconstruction_mse_before"]
    saved = json.loads((tmp_path / "ae" / "final.json").read_text())
    assert saved["reconstruction_mse_after"] == final["reconstruction_mse_after"]
    state = torch.load(tmp_path / "ae" / "checkpoints" / "last.pt", weights_only=True)["model"]
    target = {"data": {"source": "mnist1d", "options": {"per_class": 5}}, "model": source_model, "train": {"epochs": 1}}
    out = transfer(target, tmp_path / "ae", tmp_path / "t", strategy="linear_probe", progress=False)
    model_conv = torch.load(tmp_path / "t" / "checkpoints" / "last.pt", weights_only=True)["model"]["conv1.weight"]
    assert torch.equal(model_conv, state["conv1.weight"])  # the encoder came over unchanged (frozen)
    assert out["transfer"]["source"].startswith("run dir")


def test_roll_last_is_torch_roll_per_example():
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).view(2, 3, 5)
    s = torch.tensor([2, -1])
    rolled = roll_last(x, s)
    for n in range(2):
        assert torch.equal(rolled[n], torch.roll(x[n], int(s[n]), dims=-1))


def test_shift_task_is_learnable(tmp_path, source_model):
    spec = load_spec({"data": {"source": "digits"}, "model": {"hidden": [8, 16], "convs": 1}, "train": {"epochs": 3}})
    task = shift_task(load_data(spec.data, 0), 0)
    assert task.num_classes == 3 and set(task.y_train.tolist()) == {0, 1, 2}  # 8 // 8 = 1: shifts -1, 0, 1
    final = pretrain(spec, tmp_path / "shift", "shift", progress=False)
    assert final["pretrain"] == "shift" and final["test_acc"] > 0.6  # chance is 1/3
