"""bench/fashion.py on a tiny CNN and a training subset: the per-epoch curve, the reported
thresholds and final accuracy agree; the budget stops training cleanly; the plot is written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = {"name": "fashion-tiny", "data": {"source": "fashion-mnist", "augment": ["flip"]},
        "model": {"kind": "cnn", "hidden": [4, 8], "convs": 1},
        "train": {"epochs": 3, "batch_size": 100}}


def fashion(tmp_path, *args) -> dict:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "fashion.py"), "--spec", str(spec), "--subset", "500",
                        "--threads", "1", "--plot", str(tmp_path / "fashion.png"), "--json", *args],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def test_fashion_curve_thresholds_and_plot_agree(tmp_path):
    r = fashion(tmp_path, "--epochs", "2", "--budget", "600")
    assert r["train_examples"] == 500 and r["epochs"] == 2 and r["steps"] == 2 * 5 and not r["stopped_by_budget"]
    assert [c["epoch"] for c in r["curve"]] == [1, 2]
    assert r["curve"][0]["seconds"] < r["curve"][1]["seconds"] == round(r["seconds"], 4)
    assert r["test_acc"] == r["curve"][-1]["test_acc"] > 0.1      # above chance (10 classes) after 10 steps
    for t in (93, 94):
        first = next((c["seconds"] for c in r["curve"] if c["test_acc"] >= t / 100), None)
        assert r[f"reached_{t}_at"] is None if first is None else round(r[f"reached_{t}_at"], 4) == first
    assert r["wall_seconds"] >= r["seconds"] + r["load_seconds"]
    assert (tmp_path / "fashion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fashion_auto_plan_and_budget_stop_after_the_first_step(tmp_path):
    r = fashion(tmp_path, "--budget", "0.001")   # auto: even a hopeless budget gets one epoch
    assert r["planned_epochs"] == 1 and r["planned_epoch_seconds"] > 0
    assert r["stopped_by_budget"] and r["steps"] == 1 and r["epochs"] == 1 and len(r["curve"]) == 1


def test_fashion_without_its_data_is_one_line_and_exit_2(tmp_path):
    """Data that is not installed: where it looked and how to get it, exit 2, no traceback."""
    spec = tmp_path / "nodata.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "data": {**TINY["data"], "path": str(tmp_path / "empty")}}))
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "fashion.py"), "--spec", str(spec), "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr
    assert str(tmp_path / "empty") in lines[0] and "apt-get install dataset-fashion-mnist" in lines[0]
