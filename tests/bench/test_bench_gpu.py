"""bench/gpu.sh on a machine without CUDA: says so on stderr, prints nothing on stdout, exits 0."""

import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this checks the no-CUDA path")
def test_gpu_sh_without_cuda_exits_0_and_says_so():
    p = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh")], capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "PYTHON": str(ROOT / ".venv" / "bin" / "python")})
    assert p.returncode == 0 and p.stdout == ""
    assert "no CUDA device" in p.stderr
