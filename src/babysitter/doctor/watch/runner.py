"""Run somebody else's script so that it cannot tell (coverage.py's ``PyRunner``): as ``__main__``,
with ``sys.argv = [SCRIPT, *ARGS]`` (SCRIPT as given), the script's folder first on ``sys.path``,
``__file__`` absolute (as python >= 3.9 sets it, so a script that chdirs can still find its own
files), and its exit code, exceptions and Ctrl-C handled as ``python SCRIPT ARGS`` would handle them.

What the caller needs of its own (the run dir, its lock) is made absolute and taken *before*
:func:`run`: the script may chdir, and a second watch on the same run dir must stop before its
script starts (``babysitter/watching.py``).
"""

from __future__ import annotations

import os
import sys
import traceback
import types
from pathlib import Path

from babysitter.errors import BadInput


def load(path: str | Path):
    """The compiled code of a script; BadInput when it is not a readable Python file."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"no such script: {path}")
    try:
        source = path.read_bytes()
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror}") from None
    try:
        return compile(source, os.path.abspath(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        raise BadInput(f"{path} is not a Python script: {type(e).__name__}: {e}") from None


def run(path: str | Path, args: list[str], code=None) -> tuple[int, BaseException | None]:
    """Execute the script; returns (exit status, the exception that ended it or None).

    Status as ``python`` gives it: 0 at the end; ``sys.exit(n)``: n (an argparse error: 2; a
    non-int message is printed to stderr, status 1); an uncaught exception: its traceback on
    stderr, status 1; Ctrl-C: 130.
    sys.argv, sys.path[0] and sys.modules["__main__"] are restored afterwards."""
    path = Path(path)
    code = code if code is not None else load(path)
    main = types.ModuleType("__main__")
    main.__file__ = os.path.abspath(path)
    main.__builtins__ = sys.modules["builtins"]
    main.__spec__ = None
    main.__loader__ = None
    main.__cached__ = None
    old_main, old_argv, old_path0 = sys.modules.get("__main__"), sys.argv, sys.path[0] if sys.path else None
    sys.modules["__main__"] = main
    sys.argv = [str(path), *args]
    folder = os.path.abspath(os.path.dirname(str(path)))
    if sys.path:
        sys.path[0] = folder
    else:
        sys.path.insert(0, folder)
    try:
        exec(code, main.__dict__)
        return 0, None
    except SystemExit as e:
        if e.code is None:
            return 0, None
        if isinstance(e.code, int):
            return e.code, (e if e.code else None)
        print(e.code, file=sys.stderr)
        return 1, e
    except KeyboardInterrupt as e:
        _print_exception(e)
        return 130, e
    except BaseException as e:  # noqa: BLE001 - the script's own error, reported as python reports it
        _print_exception(e)
        return 1, e
    finally:
        sys.stdout.flush()
        sys.argv = old_argv
        if old_path0 is not None:
            sys.path[0] = old_path0
        if old_main is not None:
            sys.modules["__main__"] = old_main


def _print_exception(e: BaseException) -> None:
    """The traceback without this module's frame (python's shows only the script's)."""
    tb = e.__traceback__
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    sys.stderr.write("".join(traceback.format_exception(type(e), e, tb)))
    sys.stderr.flush()
