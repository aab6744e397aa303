"""bench/speedrun.py: the stopwatch's first-reach times, the summary's definition of the medians
and the ratio, and a smoke run whose reported numbers agree with its own curves."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def speedrun():
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("speedrun", ROOT / "bench" / "speedrun.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stopwatch_records_the_first_check_at_or_above_each_threshold(speedrun):
    w = speedrun.Stopwatch()
    w.start()
    accs = [0.5, 0.95, 0.93, 0.981, 0.99]
    for step, acc in enumerate(accs, 1):
        w.check(step, lambda: acc)
    seconds = [c[1] for c in w.curve]
    assert [c[0] for c in w.curve] == [1, 2, 3, 4, 5] and [c[3] for c in w.curve] == accs
    assert seconds == sorted(seconds)
    row = w.row(0.99, 5)
    assert round(row["seconds_to_94"], 4) == seconds[1]   # 0.95, not the later 0.981
    assert round(row["seconds_to_98"], 4) == seconds[3]


def test_summary_medians_lower_bound_for_the_reference_infinity_for_ours(speedrun):
    def row(seconds, to94):
        return {"test_acc": 0.9, "seconds": seconds, "cpu_seconds": seconds, "seconds_to_94": to94,
                "cpu_seconds_to_94": to94, "seconds_to_98": None, "cpu_seconds_to_98": None}

    ref = speedrun.summarize([row(30.0, None), row(40.0, 20.0), row(50.0, None)], lower_bound=True)
    assert ref["seconds_to_94"] == 30.0 and ref["reached_94"] == 1   # median of 30 (bound), 20, 50 (bound)
    assert ref["seconds_to_98"] == 40.0 and ref["reached_98"] == 0
    ours = speedrun.summarize([row(9.0, 2.0), row(9.0, None), row(9.0, 3.0)], lower_bound=False)
    assert ours["seconds_to_94"] == 3.0 and ours["reached_94"] == 2   # median of 2, 3, inf
    assert ours["seconds_to_98"] is None                              # median of inf, inf, inf


def test_speedrun_smoke_numbers_agree_with_the_curves(tmp_path):
    curves = tmp_path / "curves.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "speedrun.py"), "--seeds", "0", "--steps", "120",
                        "--every", "40", "--threads", "1", "--set", "train.epochs=2", "--set", "model.hidden=[8,16]",
                        "--curves", str(curves), "--json"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    result = json.loads(p.stdout)
    curve = json.loads(curves.read_text())
    assert result["machine"]["threads"] == 1 and result["ours_overrides"] == {"train.threads": 1, "train.epochs": 2, "model.hidden": [8, 16]}
    ref, ours = result["rows"]["reference"][0], result["rows"]["ours"][0]
    assert ref["steps"] == 120 and ours["steps"] == 2 * math.ceil(3600 / 128)
    assert [c[0] for c in curve["reference"]["0"]] == [40, 80, 120]            # every 40 steps
    assert [c[0] for c in curve["ours"]["0"]][-1] == ours["steps"]              # and at the end
    for name, row in (("reference", ref), ("ours", ours)):
        points = curve[name]["0"]
        assert row["test_acc"] == points[-1][3] and 0.0 < row["test_acc"] <= 1.0
        assert round(row["seconds"], 4) == points[-1][1]
        for t in (94, 98):
            first = next((c[1] for c in points if c[3] >= t / 100), None)
            got = row[f"seconds_to_{t}"]
            assert (got is None and first is None) or round(got, 4) == first
            assert got is None or got <= row["seconds"]
    for t in (94, 98):   # a reference that never got there counts its whole run (a lower bound)
        expected = ref[f"seconds_to_{t}"] if ref[f"seconds_to_{t}"] is not None else ref["seconds"]
        assert result["reference"][f"seconds_to_{t}"] == expected
        a, b = result["ours"][f"seconds_to_{t}"], result["reference"][f"seconds_to_{t}"]
        assert result[f"ratio_{t}"] == (None if a is None else a / b)
