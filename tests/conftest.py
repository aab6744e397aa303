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


def run_main(monkeypatch, capsys, *args):
    """The CLI's main() in this process (same code as the console script): (exit code, stdout, stderr)."""
    from babysitter import cli

    monkeypatch.setattr(sys, "argv", ["babysit", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out, err = capsys.readouterr()
    return e.value.code, out, err


@pytest.fixture
def write_spec(tmp_path):
    import yaml

    def write(spec: dict, name="spec.yaml") -> Path:
        p = tmp_path / name
        p.write_text(yaml.safe_dump(spec))
        return p

    return write


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests push small tensors through many small ops: on a busy 2-core machine torch's worker
    threads cost far more than they save (100x measured). Values do not depend on the thread
    count; subprocesses started by tests keep torch's default."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
