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
