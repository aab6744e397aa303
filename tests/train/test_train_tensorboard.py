"""log: {tensorboard: true}: event files in <run dir>/tb, read back with tensorboard's EventAccumulator."""

import json

import pytest

import babysitter
from babysitter.doctor.spec_run import monitors
from babysitter.spec import load_spec

SPEC = {"name": "tb", "data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16]},
        "optim": {"name": "adam", "lr": 3e-3}, "schedule": {"name": "constant"},
        "train": {"epochs": 2, "batch_size": 64}, "doctor": {"every": 5}, "log": {"tensorboard": True}}


def test_event_files_hold_curves_and_instruments(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec, out = load_spec(SPEC), tmp_path / "run"
    babysitter.fit(spec, out, progress=False, callbacks=monitors(spec, out))
    acc = EventAccumulator(str(out / "tb"), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for key, tag in (("train_loss", "train/loss"), ("val_loss", "val/loss"), ("train_acc", "train/acc"),
                     ("val_acc", "val/acc"), ("lr", "lr")):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [r["step"] for r in rows]
        assert [e.value for e in events] == pytest.approx([r[key] for r in rows], rel=1e-6)  # float32 in the file
    # the doctor's update ratios, per layer, at its due steps: the same numbers doctor.json holds
    doctor = json.loads((out / "doctor.json").read_text())["UpdateRatio"]
    assert doctor["layers"] == ["fc1", "head"]
    for layer in doctor["layers"]:
        events = acc.Scalars(f"update_ratio/{layer}")
        assert [e.step for e in events] == doctor["steps"] and len(events) > 3
        assert [e.value for e in events] == pytest.approx(doctor["ratio"][layer], rel=1e-6)
    assert {"grad_norm/fc1", "activation_dead/act1", "activation_std/act1"} <= set(tags["scalars"])
    assert {"weights/fc1", "grads/head"} <= set(tags["histograms"])
    assert acc.Histograms("weights/fc1")[-1].histogram_value.num == 16 * 64


def test_tensorboard_off_writes_nothing(tmp_path):
    out = tmp_path / "run"
    babysitter.fit({**SPEC, "log": {"tensorboard": False}, "train": {"epochs": 1}}, out, progress=False)
    assert not (out / "tb").exists()
