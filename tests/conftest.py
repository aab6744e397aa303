import os
import subprocess
import sys
from pathlib import Path

import pytest

BABYSIT = [sys.executable, "-m", "babysitter.cli"]


def babysit(*args, cwd=None, check=False, timeout=300):
    """Run the real CLI in a subprocess; returns CompletedProcess (text)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([*BABYSIT, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"babysit {' '.join(map(str, args))} -> {p.returncode}\n{p.stderr[-3000:]}")
    return p


@pytest.fixture
def write_spec(tmp_path):
    import yaml

    def write(spec: dict, name="spec.yaml") -> Path:
        p = tmp_path / name
        p.write_text(yaml.safe_dump(spec))
        return p

    return write
