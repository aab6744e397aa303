"""babysit watch as faithful as python: its run dir and lock taken before the script starts (a second
watch on it stops, the script not run), default names that never collide, the script's own exit
status, an absolute __file__ and our paths fixed before a script chdirs; hints name only options the
verb has. Scripts here train nothing: what is checked is how they are run."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import BABYSIT, babysit
from tests.hostile.promise import refused

SLOW = """import sys, time
print("started", flush=True)
time.sleep(float(sys.argv[1]) if sys.argv[1:] else 30)
"""

ENDINGS = """import argparse, sys
p = argparse.ArgumentParser()
p.add_argument("how")
p.add_argument("--n", type=int, default=0)
a = p.parse_args()
if a.how == "exit":
    sys.exit(a.n)
if a.how == "raise":
    raise RuntimeError("the script's own error")
if a.how == "message":
    sys.exit("a message, not a number")
"""

CHDIR = """import os, sys
here = os.path.dirname(__file__)
os.chdir(sys.argv[1])
print(open(os.path.join(here, "beside.txt")).read().strip(), os.path.isabs(__file__), sys.argv[0])
"""


def script(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def python(*args, cwd=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_a_second_watch_on_the_same_out_stops_before_its_script_runs(tmp_path):
    slow = script(tmp_path, "slow.py", SLOW)
    out = tmp_path / "same"
    first = subprocess.Popen([*BABYSIT, "watch", "--quiet", "--render", "none", "--out", str(out), str(slow), "20"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert first.stdout.readline().strip() == "started"  # the script runs: the lock was taken before it
        assert (out / ".babysitter.lock").read_text().strip() == str(first.pid)
        second = babysit("watch", "--quiet", "--out", out, slow, "0")
        refused(second.returncode, second.stdout, second.stderr)
        assert f"in use by pid {first.pid}" in second.stderr
        assert "started" not in second.stdout + second.stderr   # the second script never ran
    finally:
        first.kill()
        first.wait(timeout=60)
        first.stdout.close()


def test_default_run_dirs_started_in_one_second_do_not_collide(tmp_path):
    quick = script(tmp_path, "quick.py", SLOW)
    procs = [subprocess.Popen([*BABYSIT, "watch", "--json", "--render", "none", str(quick), "0.5"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    dirs = {r["run_dir"] for r in reports}
    assert len(dirs) == 3                                   # three runs, three folders
    assert all(os.path.isabs(d) and Path(d).parent.resolve() == (tmp_path / "runs").resolve() for d in dirs)
    pids = {p.pid for p in procs}
    assert {int(os.path.basename(d).rsplit("-", 1)[1]) for d in dirs} == pids
    assert all(os.path.isfile(os.path.join(d, "diagnosis.json")) for d in dirs)


def test_the_exit_status_is_the_script_s_own(tmp_path):
    endings = script(tmp_path, "endings.py", ENDINGS)
    cases = [("exit", "--n", "3"), ("exit", "--n", "0"), ("raise",), ("message",), ("exit", "--n", "notanint"), ()]
    for n, args in enumerate(cases):
        plain = python(endings, *args)
        watched = babysit("watch", "--quiet", "--render", "none", "--out", tmp_path / f"r{n}", endings, *args)
        assert watched.returncode == plain.returncode, (args, watched.stderr)
        assert watched.stdout == plain.stdout
        assert plain.stderr in watched.stderr or plain.stderr.splitlines()[-1] in watched.stderr
    assert [python(endings, *a).returncode for a in cases] == [3, 0, 1, 1, 2, 2]   # what python gives


def test_watch_s_own_bad_input_is_2_and_the_script_never_runs(tmp_path):
    slow = script(tmp_path, "slow.py", SLOW)
    for args in (["--every", "0"], ["--budget", "-1"], ["--render", "sometimes"]):
        p = babysit("watch", *args, "--out", tmp_path / "never", slow, "0")
        refused(p.returncode, p.stdout, p.stderr)
        assert "started" not in p.stderr
    assert not (tmp_path / "never").exists()


def test_file_is_absolute_and_a_chdir_moves_neither_the_script_s_files_nor_our_run_dir(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    chdir = script(sub, "chdir.py", CHDIR)
    (sub / "beside.txt").write_text("found me")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plain = python("sub/chdir.py", elsewhere, cwd=tmp_path)
    watched = babysit("watch", "--quiet", "--render", "none", "--out", "run", "sub/chdir.py", elsewhere, cwd=tmp_path)
    assert plain.returncode == watched.returncode == 0, watched.stderr
    assert watched.stdout == plain.stdout == "found me True sub/chdir.py\n"
    assert (tmp_path / "run" / "diagnosis.json").is_file()   # where --out said, not under the script's new cwd
    assert not (elsewhere / "run").exists() and os.listdir(elsewhere) == []
    assert chdir.is_file()


def test_hints_name_only_options_the_verb_has(tmp_path, tiny_spec):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    slow = script(tmp_path, "slow.py", SLOW)
    watched = babysit("watch", "--out", taken, slow, "0")
    refused(watched.returncode, watched.stdout, watched.stderr)
    assert "--resume" not in watched.stderr and "--force" not in watched.stderr and "--out" in watched.stderr
    treated = babysit("treat", tiny_spec, "--out", taken, "--quiet")
    refused(treated.returncode, treated.stdout, treated.stderr)
    assert "--resume" not in treated.stderr and "--force" in treated.stderr
    moved = babysit("transfer", tiny_spec, "--pretrain", "supervised", "--out", taken, "--quiet")
    refused(moved.returncode, moved.stdout, moved.stderr)
    assert "--resume" not in moved.stderr and "--force" in moved.stderr
    ran = babysit("run", tiny_spec, "--out", taken, "--quiet")   # run has no --resume: the verb that has it is named
    refused(ran.returncode, ran.stdout, ran.stderr)
    assert "--force" in ran.stderr and f"babysit train --resume {taken}" in ran.stderr
    assert os.listdir(taken) == ["keep.txt"]


def test_a_killed_watch_leaves_no_blocker(tmp_path):
    slow = script(tmp_path, "slow.py", SLOW)
    out = tmp_path / "run"
    first = subprocess.Popen([*BABYSIT, "watch", "--quiet", "--out", str(out), str(slow), "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert first.stdout.readline().strip() == "started"
    first.kill()
    first.wait(timeout=60)
    first.stdout.close()
    time.sleep(0.1)
    assert (out / ".babysitter.lock").is_file() and not (out / "diagnosis.json").exists()
    again = babysit("watch", "--quiet", "--render", "none", "--out", out, slow, "0")  # the lock died with its holder
    assert again.returncode == 0 and "in use" not in again.stderr, again.stderr
    assert (out / "diagnosis.json").is_file()
