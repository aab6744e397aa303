"""The run dir and its per-epoch record, ``metrics.jsonl`` (one JSON object per epoch).

Row keys: epoch, step, train_loss, train_acc, val_loss, val_acc, lr, seconds (wall time of that
epoch: training plus its validation pass).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from babysitter.errors import BadInput


TAKEN = "run dir {out} already exists; use --resume {out} to continue it or --force to replace it"


def check_run_dir(out: str | Path | None, force: bool = False, message: str = TAKEN) -> None:
    """BadInput(``message``, which may use ``{out}``) if ``out`` already holds something and not
    ``force``: called before any work, so a refused command leaves the dir as it was and creates nothing."""
    if out is None or force:
        return
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(message.format(out=out))


def prepare_run_dir(out: str | Path, force: bool = False) -> Path:
    """Create ``out`` for a new run. An existing non-empty dir is an error unless ``force``
    (then it is cleared). Checked before anything is written."""
    out = Path(out)
    check_run_dir(out, force)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def fresh_run_dir(root: str | Path, name: str) -> Path:
    """``root/name``, or ``root/name-2``, ``-3``... — the first that does not exist yet."""
    root = Path(root)
    candidate, n = root / name, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{name}-{n}"
    return candidate


def write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.replace(path)


def write_spec(path: Path, spec_dict: dict) -> None:
    path.write_text(yaml.safe_dump(spec_dict, sort_keys=False))


class History:
    """Per-epoch rows, kept in memory and appended to ``metrics.jsonl`` as they come."""

    def __init__(self, path: Path | None = None, rows: list[dict] | None = None):
        self.path, self.rows = path, list(rows or [])
        if path is not None:  # rewrite from the rows we trust (a resumed run drops later lines)
            path.write_text("".join(json.dumps(r) + "\n" for r in self.rows))

    def append(self, row: dict) -> None:
        self.rows.append(row)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    @staticmethod
    def read(path: Path) -> list[dict]:
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
