"""doctor/watch/runner.py: a script run as python runs it (coverage.py's PyRunner): ``__main__``,
``sys.argv``, ``sys.path[0]``, ``__file__``, its exit status and its own traceback; and the same
through ``babysit watch``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from babysitter.doctor.watch.runner import load, run
from babysitter.errors import BadInput

SCRIPTS = Path(__file__).parents[1] / "scripts"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def babysit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "babysitter.cli", *map(str, args)], capture_output=True,
                          text=True, env=ENV, cwd=cwd)


def test_the_script_sees_python_s_own_set_up_and_exit_codes(tmp_path):
    plain = subprocess.run([sys.executable, SCRIPTS / "echo_argv.py", "a", "--json"], capture_output=True, text=True)
    done = babysit("watch", "--quiet", "--out", tmp_path / "r", SCRIPTS / "echo_argv.py", "a", "--json")
    assert done.returncode == 0 and done.stdout == plain.stdout == "__main__ ['a', '--json'] echo_argv.py True\n"
    raised = babysit("watch", "--quiet", "--out", tmp_path / "r2", SCRIPTS / "echo_argv.py", "raise")
    assert raised.returncode == 1 and raised.stderr.rstrip().endswith("ValueError: the script's own error")
    assert "runner.py" not in raised.stderr          # the traceback is the script's, as python prints it
    assert babysit("watch", "--quiet", "--out", tmp_path / "r3", SCRIPTS / "echo_argv.py", "exit", "0").returncode == 0
    assert babysit("watch", "--quiet", "--out", tmp_path / "r4", SCRIPTS / "echo_argv.py", "exit", "3").returncode == 3


def test_run_sets_up_main_argv_and_path_and_restores_them(tmp_path, capsys):
    script = tmp_path / "s.py"
    script.write_text("import sys\nprint(__name__, sys.argv, __file__ == %r, sys.path[0] == %r)\n"
                      % (str(script), str(tmp_path)))
    argv, path0, main = sys.argv, sys.path[0], sys.modules["__main__"]
    assert run(script, ["a", "-b"]) == (0, None)
    assert capsys.readouterr().out == f"__main__ {[str(script), 'a', '-b']} True True\n"
    assert sys.argv is argv and sys.path[0] == path0 and sys.modules["__main__"] is main


@pytest.mark.parametrize("body, status", [("import sys; sys.exit(3)", 3), ("import sys; sys.exit()", 0),
                                          ("import sys; sys.exit('no data')", 1), ("raise KeyboardInterrupt", 130)])
def test_exit_statuses_are_python_s(tmp_path, capsys, body, status):
    script = tmp_path / "s.py"
    script.write_text(body + "\n")
    assert run(script, [])[0] == status
    if status == 1:
        assert capsys.readouterr().err == "no data\n"       # a non-int exit message goes to stderr


def test_an_uncaught_error_prints_the_script_s_traceback_only(tmp_path, capsys):
    script = tmp_path / "s.py"
    script.write_text("def f():\n    raise ValueError('mine')\nf()\n")
    status, exc = run(script, [])
    err = capsys.readouterr().err
    assert status == 1 and isinstance(exc, ValueError)
    assert err.startswith("Traceback") and err.rstrip().endswith("ValueError: mine") and "runner.py" not in err


def test_load_refuses_what_is_not_a_python_script(tmp_path):
    with pytest.raises(BadInput, match="no such script"):
        load(tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("def (:\n")
    with pytest.raises(BadInput, match="is not a Python script: SyntaxError"):
        load(bad)
