"""bench/watch.py on a tiny script (12 SGD steps): the three configs ran, the ratios are the
medians' ratios, the script's output was the same under watch, the steps and the probes' seconds
come from the run's diagnosis; a failing script is a one-line error."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = """\
import torch
import torch.nn.functional as F

torch.manual_seed(0)
x = torch.randn(48, 5)
y = (x[:, 0] > 0).long()
model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(12):
    idx = slice(4 * step, 4 * step + 4)
    loss = F.cross_entropy(model(x[idx]), y[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"loss {loss.item():.6f}")
"""


def bench(script: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "bench" / "watch.py"), "--script", str(script), *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def test_watch_bench_ratios_output_steps_and_probes(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(TINY)
    p = bench(script, "--repeats", "1", "--warmup", "0", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout)
    assert {k: len(v) for k, v in r["seconds"].items()} == {"plain": 1, "watch": 1, "probes": 1}
    med = {k: statistics.median(v) for k, v in r["seconds"].items()}
    assert r["plain_seconds"] == med["plain"] and r["watch_seconds"] == med["watch"] > 0
    assert r["ratio"] == med["watch"] / med["plain"]
    cpu = {k: statistics.median(v) for k, v in r["cpu_seconds"].items()}
    assert r["ratio_cpu"] == cpu["watch"] / cpu["plain"] and cpu["plain"] > 0
    assert r["probes_extra_seconds"] == med["probes"] - med["watch"]
    assert r["same_output"] is True
    assert r["steps"] == 12                                  # the script's 12 optimizer steps
    assert isinstance(r["probes_seconds"], float) and 0 <= r["probes_seconds"] < med["probes"]
    assert r["repeats"] == 1 and r["threads"] == 1 and r["machine"]["threads"] == 1


def test_watch_bench_failing_script_is_one_line(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("raise SystemExit(3)\n")
    p = bench(script, "--repeats", "1", "--warmup", "0", "--json")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip().count("\n") == 0 and "plain run of broken.py failed (exit 3)" in p.stderr
