"""The error types users see, and the exit status and one line each gives (:func:`exit_on_error`):
bad input -> one line on stderr, exit status 2."""


class BadInput(ValueError):
    """Raised for anything the user can fix: a bad spec, a missing file, bad data.

    The CLI prints ``str(error)`` as one line and exits with status 2; nothing is written.
    """


class TrainingFailed(RuntimeError):
    """The run itself failed (e.g. the loss became NaN/Inf): the CLI exits with status 1."""


class CannotWrite(TrainingFailed):
    """A file could not be written (permissions, a full disk): exit status 1, the message names
    the file. Atomic writes leave the previous version (e.g. the last good checkpoint) whole."""


class Terminated(BaseException):
    """SIGTERM (what a cluster scheduler sends at a time limit), raised in the main thread by the
    CLI's handler so that ``finally`` blocks and atomic writes unwind as for Ctrl-C. A
    BaseException, as KeyboardInterrupt: ``except Exception`` does not swallow it."""


class Interrupted(BaseException):
    """A run stopped by Ctrl-C (``status`` 130) or SIGTERM (143) after its last good checkpoint:
    the CLI prints ``str(error)`` in one line (what to do next) and exits with ``status``. A
    BaseException like the KeyboardInterrupt it stands for, so no ``except Exception`` (Optuna's
    ``catch`` of a failed trial, a plot's guard) swallows it and carries on."""

    def __init__(self, message: str, status: int = 130):
        super().__init__(message)
        self.status = status


def exit_on_error(run) -> None:
    """``sys.exit(run())``, as every ``babysit`` verb exits: an error in one line on stderr, never a
    traceback -- bad input 2, a failed run or an unwritable file 1, Ctrl-C 130, SIGTERM 143, a bug of
    ours 1 ("internal error"; ``BABYSIT_TRACEBACK=1`` raises it)."""
    import os
    import sys

    try:
        code = run()
    except BadInput as e:
        print(f"babysit: error: {e}", file=sys.stderr)
        sys.exit(2)
    except CannotWrite as e:
        print(f"babysit: error: {e}", file=sys.stderr)
        sys.exit(1)
    except TrainingFailed as e:
        print(f"babysit: the run failed: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:  # a fault of the machine no classified path caught: still one line
        print(f"babysit: error: {e.filename or 'I/O'}: {e.strerror or e}", file=sys.stderr)
        sys.exit(1)
    except Interrupted as e:  # a training run: its last good checkpoint kept, the way to go on named
        print(f"babysit: {e}", file=sys.stderr)
        sys.exit(e.status)
    except Terminated:
        print("babysit: terminated", file=sys.stderr)
        sys.exit(143)
    except KeyboardInterrupt:
        print("babysit: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001  a bug of ours, not the user's: still one line (git's "BUG:")
        if os.environ.get("BABYSIT_TRACEBACK"):
            raise
        print(f"babysit: internal error: {type(e).__name__}: {' '.join(str(e).split())[:300]} "
              f"(a bug in babysitter; BABYSIT_TRACEBACK=1 shows where)", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
