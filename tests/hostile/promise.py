"""The promise every hostile case checks, and the tiny spec the cases start from."""

TINY = {"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16]},
        "schedule": {"name": "constant"}, "train": {"epochs": 1}}


def refused(code, out, err, expect_code=2, lines=2):
    """The CLI's promise for a refused input: ``expect_code``, one or two lines, no traceback, stdout empty."""
    assert code == expect_code, err
    assert "Traceback" not in err, err
    assert 1 <= len(err.strip().splitlines()) <= lines, err
    assert out == "", out
