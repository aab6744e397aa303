"""The library's ``babysitter.watch(out=DIR)`` takes its run dir as ``babysit watch --out`` does:
a folder holding files is refused before anything runs, another process's lock too, and once the
run is written the lock is dropped (``babysit report``, another process, may take the dir)."""

import subprocess
import sys
import textwrap

import pytest
import torch
from torch.optim.optimizer import _global_optimizer_pre_hooks

import babysitter
from babysitter.errors import BadInput

HOLD = textwrap.dedent("""
    import sys, time
    from babysitter.files import prepare_dir
    prepare_dir(sys.argv[1])
    print("held", flush=True)
    time.sleep(60)
""")
TAKE = "import sys\nfrom babysitter.files import ensure_locked\nensure_locked(sys.argv[1])\n"


def _train(steps: int = 3) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def test_a_folder_holding_files_is_refused_before_anything_runs(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "diagnosis.json").write_text("an earlier run's verdict\n")
    hooks_before = len(_global_optimizer_pre_hooks)
    with pytest.raises(BadInput, match="already holds files"):
        with babysitter.watch(out=out, probes=False):
            raise AssertionError("the block must not run")
    assert (out / "diagnosis.json").read_text() == "an earlier run's verdict\n"
    assert sorted(p.name for p in out.iterdir()) == ["diagnosis.json"]
    assert len(_global_optimizer_pre_hooks) == hooks_before   # no hook left behind


def test_a_dir_another_process_holds_is_refused_and_a_written_one_released(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BadInput, match=f"in use by pid {holder.pid}"):
            with babysitter.watch(out=out, probes=False):
                raise AssertionError("the block must not run")
    finally:
        holder.kill()
        holder.wait()

    mine = tmp_path / "mine"
    doctor = babysitter.watch(out=mine, probes=False)
    doctor.render = "none"
    with doctor:
        _train()
    assert doctor.report["steps"] == 3 and (mine / "diagnosis.json").is_file()
    # this process still runs; the lock is dropped: another process takes the dir at once
    taken = subprocess.run([sys.executable, "-c", TAKE, str(mine)], capture_output=True, text=True, timeout=60)
    assert taken.returncode == 0, taken.stderr
