"""The one error type users see: bad input -> one line on stderr, exit status 2."""


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
