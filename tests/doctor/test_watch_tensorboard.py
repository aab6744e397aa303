"""babysitter.watch(tensorboard=True): the event files hold what the run dir's metrics.jsonl and
doctor.json hold, read back with tensorboard's EventAccumulator."""

import json

import pytest
import torch
from torch import nn

import babysitter


def test_watched_loop_writes_the_curves_and_update_ratios(tmp_path):
    from sklearn.datasets import load_digits
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.manual_seed(0)
    d = load_digits()
    x, y = torch.tensor(d.data / 16, dtype=torch.float32), torch.tensor(d.target)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    out = tmp_path / "watched"
    with babysitter.watch(out=out, probes=False, every=5, tensorboard=True):
        for _ in range(3):
            model.train()
            for i in range(0, 1500, 50):
                opt.zero_grad()
                nn.functional.cross_entropy(model(x[i:i + 50]), y[i:i + 50]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                nn.functional.cross_entropy(model(x[1500:]), y[1500:])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    doctor = json.loads((out / "doctor.json").read_text())["UpdateRatio"]
    events = EventAccumulator(str(out / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    assert len(rows) == 3 and all(r["val_loss"] is not None for r in rows)
    for key, tag in (("train_loss", "train/loss"), ("val_loss", "val/loss")):
        assert [e.step for e in events.Scalars(tag)] == [r["step"] for r in rows]
        assert [e.value for e in events.Scalars(tag)] == pytest.approx([r[key] for r in rows], rel=1e-6)
    layer = doctor["layers"][0]
    ratios = events.Scalars(f"update_ratio/{layer}")
    assert [e.step for e in ratios] == doctor["steps"] and len(ratios) > 5
    assert [e.value for e in ratios] == pytest.approx(doctor["ratio"][layer], rel=1e-6)
