"""The doctor as a Lightning callback, against the real pytorch-lightning: Adam's lr far too high is
named in the top two; a healthy module is healthy; diagnosis.json holds the same report."""

import json

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("pytorch_lightning")

from babysitter.integrations.lightning import Doctor  # noqa: E402


class Digits(pl.LightningModule):
    def __init__(self, lr: float):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def loaders():
    x, y = load_digits(return_X_y=True)
    x = torch.tensor((x - x.mean(0)) / (x.std(0) + 1e-8), dtype=torch.float32)
    y = torch.tensor(y)
    g = torch.Generator().manual_seed(0)
    train = DataLoader(TensorDataset(x[:1200], y[:1200]), batch_size=64, shuffle=True, generator=g)
    val = DataLoader(TensorDataset(x[1200:], y[1200:]), batch_size=256)
    return train, val


def fit(lr, out):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    doctor = Doctor(out=out, budget=10, quiet=True)
    trainer = pl.Trainer(max_epochs=4, callbacks=[doctor], accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Digits(lr), *loaders())
    return doctor, json.loads((out / "diagnosis.json").read_text())


def test_lr_far_too_high_is_named_in_the_top_two(tmp_path):
    doctor, saved = fit(1.0, tmp_path / "high")
    alarms = [f["id"] for f in saved["findings"] if f["severity"] in ("error", "warning")]
    assert "lr_too_high" in alarms[:2], saved["findings"]
    assert saved["steps"] == 4 * 19 and saved == json.loads(json.dumps(doctor.report)) | {"run_dir": saved["run_dir"]}


def test_healthy_module_is_healthy(tmp_path):
    _, saved = fit(1e-3, tmp_path / "ok")
    assert saved["healthy"], saved["findings"]
    assert saved["probes"]["watch"]["model"] == "Digits" and saved["probes"]["watch"]["classes"] == 10
