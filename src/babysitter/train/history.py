"""The run dir and its per-epoch record, ``metrics.jsonl`` (one JSON object per epoch).

Row keys: epoch, step, train_loss, train_acc, val_loss, val_acc, lr, seconds (wall time of that
epoch: training plus its validation pass).
"""

from __future__ import annotations

from pathlib import Path

from babysitter import files
from babysitter.errors import BadInput
from babysitter.files import write_json  # noqa: F401  (re-exported: the run dir's JSON writer)

ROW_KEYS = ("epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
TAKEN = "run dir {out} already exists; use --resume {out} to continue it or --force to replace it"
# for verbs without --resume (treat, transfer): name only the options they have
TAKEN_NO_RESUME = "{out} already exists; use --force to replace it or give --out a new folder"


def check_run_dir(out: str | Path | None, force: bool = False, message: str = TAKEN) -> None:
    """BadInput(``message``, which may use ``{out}``) if ``out`` already holds something and not
    ``force``; with ``force``, BadInput unless ``out`` may be replaced (:func:`files.check_replaceable`:
    only a folder of ours, never cwd/home/a parent/a file). Called before any work, so a refused
    command leaves the dir as it was and creates nothing."""
    if out is None:
        return
    out = Path(out)
    if force:
        files.check_replaceable(out)
    elif out.exists() and not out.is_dir():
        raise BadInput(f"{out} is a file, not a run dir; choose another --out")
    elif files.contents(out):
        raise BadInput(message.format(out=out))


def prepare_run_dir(out: str | Path, force: bool = False, message: str = TAKEN, lock: bool = True) -> Path:
    """Create ``out`` for a new run, marked ours and locked by this process (:func:`files.prepare_dir`):
    an existing non-empty dir is an error unless ``force`` (then, if it is ours, it is cleared) -- refused
    before anything is made in it (:func:`check_run_dir`), and checked again under the lock."""
    if not force:
        check_run_dir(out, message=message)
    return files.prepare_dir(out, force=force, taken=message, lock=lock)


def fresh_run_dir(root: str | Path, name: str) -> Path:
    """``root/name``, or ``root/name-2``, ``-3``... — the first that does not exist yet.
    A ``name`` that would leave ``root`` ('../x', 'a/b') is BadInput."""
    first = files.child_dir(root, name, "name")
    candidate, n = first, 1
    while candidate.exists():
        n += 1
        candidate = Path(root) / f"{name}-{n}"
    return candidate


def write_spec(path: Path, spec_dict: dict) -> None:
    import yaml   # here: the run dir's other writers (babysit watch's) do not pay its import

    files.write_atomic(path, yaml.safe_dump(spec_dict, sort_keys=False))


class History:
    """Per-epoch rows, kept in memory and appended to ``metrics.jsonl`` as they come."""

    def __init__(self, path: Path | None = None, rows: list[dict] | None = None):
        self.path, self.rows = path, list(rows or [])
        if path is not None:  # rewrite from the rows we trust (a resumed run drops later lines)
            files.write_atomic(path, "".join(files.dumps(r) + "\n" for r in self.rows))

    def append(self, row: dict) -> None:
        self.rows.append(row)
        if self.path is not None:
            with files.writing(self.path), self.path.open("a") as f:
                f.write(files.dumps(row) + "\n")

    @staticmethod
    def read(path: Path) -> list[dict]:
        """The rows of a metrics.jsonl (a last line cut short by a kill is dropped); BadInput
        naming the file if it is corrupted or a row's values are not numbers."""
        rows = files.read_jsonl(path, "metrics")
        for n, row in enumerate(rows, 1):
            bad = next((k for k in ROW_KEYS if row.get(k) is not None and not isinstance(row[k], (int, float))), None)
            if bad is not None:
                raise BadInput(f"metrics {path} row {n}: {bad} is {row[bad]!r}, not a number; the file is corrupted")
        return rows
