"""bench/treat.py --quick: a smoke run on two specs whose summary agrees with its own rows."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_summarizes_its_own_cases():
    done = subprocess.run([sys.executable, str(ROOT / "bench/treat.py"), "--quick", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    rows = result["cases"]
    assert {r["method"] for r in rows} == {"treat", "random"} and len(rows) == 4   # 2 specs x (treat + 1 seed)
    for method in ("treat", "random"):
        faulty = [r for r in rows if r["method"] == method and r["expect"] != "healthy"]
        healthy = [r for r in rows if r["method"] == method and r["expect"] == "healthy"]
        s = result[method]
        assert s["faulty_runs"] == len(faulty) == 1 and s["healthy_runs"] == len(healthy) == 1
        assert s["repaired_fraction"] == sum(r["ok"] for r in faulty) / len(faulty)
        assert s["mean_val_gain"] == round(sum(r["val_gain"] for r in faulty) / len(faulty), 4)
        for r in faulty:  # repaired: healthy after and val accuracy not below the original's - 0.005
            assert r["ok"] == (r["healthy"] and r["val_acc"] >= r["before_val_acc"] - 0.005)
            assert r["val_gain"] == round(r["val_acc"] - r["before_val_acc"], 4)
    # a healthy spec: the doctor changes nothing (and the random baseline never runs a round either)
    assert all(r["ok"] and r["rounds"] == 0 for r in rows if r["expect"] == "healthy")
