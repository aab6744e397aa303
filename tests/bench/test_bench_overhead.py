"""bench/overhead.py computes what a plain PyTorch loop computes, and the Trainer's batched epoch
bookkeeping (EpochMeter) and thread choice give the numbers of the direct computation."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from babysitter.train.trainer import EpochMeter, cpu_threads, fit_threads

ROOT = Path(__file__).resolve().parents[2]


def test_overhead_smoke_plain_loop_and_trainer_agree():
    """80 steps of the paper CNN: plain loop, Trainer, Trainer + doctor give the same epoch losses."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "overhead.py"), "--steps", "80", "--repeats", "1",
                        "--threads", "1", "--json"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    result = json.loads(p.stdout)
    for key in ("plain_seconds", "ours_seconds", "ours_doctor_seconds", "ratio", "ratio_doctor", "max_loss_diff"):
        assert isinstance(result[key], float) and math.isfinite(result[key]), key
    assert result["steps"] == 80 and result["machine"]["threads"] == 1
    assert result["threads"] == 1   # all four loops ran at one thread count (no auto tuning in ours)
    assert result["ratio"] == result["ours_seconds"] / result["plain_seconds"]
    assert result["max_loss_diff"] <= 1e-5
    assert result["max_loss_diff_doctor"] <= 1e-5   # instruments observe, they do not change training
    assert 0.0 < result["doctor_hook_share"] < 1.0
    # the fourth column: Lightning on the same run computes the plain loop's losses
    assert isinstance(result["lightning_seconds"], float)
    assert result["ratio_lightning"] == result["lightning_seconds"] / result["plain_seconds"]
    assert result["max_loss_diff_lightning"] <= 1e-5


def test_epoch_meter_matches_per_step_sums():
    """Loss: the float32 running sum ``s += L_b * n_b`` done step by step; accuracy: numpy argmax.
    Small ``max_elements`` and a read mid-epoch exercise every folding path; the last batch is short."""
    g = torch.Generator().manual_seed(0)
    meter = EpochMeter(torch.device("cpu"), max_elements=70)
    s, correct, seen = torch.zeros(()), 0, 0
    for b, n in enumerate([16] * 9 + [5]):
        logits, y = torch.randn(n, 3, generator=g), torch.randint(0, 3, (n,), generator=g)
        loss = torch.rand((), generator=g) * 3
        meter.add(loss, logits, y)
        s += loss * n
        correct += int((np.argmax(logits.numpy(), 1) == y.numpy()).sum())
        seen += n
        if b == 4:
            mid = meter.means()
            assert mid == (s.item() / seen, correct / seen)
    assert meter.means() == (s.item() / seen, correct / seen)   # bit for bit


def test_epoch_meter_overflow_gives_inf():
    meter = EpochMeter(torch.device("cpu"))
    meter.add(torch.tensor(3e38), torch.zeros(100, 2), torch.zeros(100, dtype=torch.long))
    loss, acc = meter.means()
    assert loss == math.inf and acc == 1.0


def test_fit_threads_lowers_to_the_granted_cpus_never_raises():
    n = cpu_threads()
    assert 1 <= n <= (os.cpu_count() or 1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(n + 3)
        fit_threads(torch.device("cpu"))
        assert torch.get_num_threads() == n
        torch.set_num_threads(1)
        fit_threads(torch.device("cpu"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
