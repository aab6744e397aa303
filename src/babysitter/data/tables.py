"""A CSV table with a header row: numeric feature columns and a target column of labels.

``csv`` returns ``(x_train, y_train, x_test, y_test, meta)``: x ``(N, D)`` float32 (the D feature
columns in file order), labels (strings or numbers) as class ids in sorted order (numbers sort as
numbers), and ``meta = {"class_names", "features", "target", "fillna"}``, saved with the run
(``data.json``) so ``babysit predict`` reads a new table by the same columns and maps ids back to
names. A non-numeric feature or a missing cell (without ``fillna``) raises BadInput naming the
file, line and column. Without ``test_path``, the ``npz`` source's seeded split makes the test part.
"""

from __future__ import annotations

import csv as csvlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from babysitter.data.options import check_options, seeded_split
from babysitter.errors import BadInput

MISSING = ("", "na", "nan", "null", "none", "?")  # cells read as missing (compared lower-case)


def sorted_names(values) -> list[str]:
    """Distinct label strings in sorted order; numerically when every one is a number."""
    distinct = set(values)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def read_table(path: Path, target: str | None, features: list[str] | None, fillna: float | None,
               class_names: list[str] | None = None) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """A CSV file with a header row -> ``(x (N, D) float32, labels or None, feature names)``.

    ``target``: the label column (None or absent from the file: no labels, as for new inputs to
    predict). ``features``: the feature columns (None: every other column, in file order).
    ``fillna``: the value for missing cells (None: a missing cell is bad input).
    ``class_names``: when given (predict), labels outside it are bad input.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csvlib.reader(f))
    except (OSError, UnicodeDecodeError, csvlib.Error) as e:
        raise BadInput(f"csv: cannot read {path}: {str(e).splitlines()[0][:160]}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise BadInput(f"csv: {path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    for n, r in enumerate(body, 2):
        if len(r) != len(header):
            raise BadInput(f"csv: {path} line {n} has {len(r)} fields, the header {len(header)}")
    has_target = target is not None and target in header
    if features is None:
        features = [h for h in header if h != target]
    missing_cols = [c for c in features if c not in header]
    if missing_cols:
        raise BadInput(f"csv: {path} lacks column(s) {', '.join(missing_cols)}; it has {', '.join(header)}")
    if not features:
        raise BadInput(f"csv: {path} has no feature column besides the target '{target}'")
    x = np.empty((len(body), len(features)), dtype=np.float32)
    for j, col in enumerate(features):
        k = header.index(col)
        for i, r in enumerate(body):
            x[i, j] = _number(r[k], path, col, i + 2, fillna)
    labels = None
    if has_target:
        k = header.index(target)
        labels = [r[k].strip() for r in body]
        blank = next((i for i, v in enumerate(labels) if v.lower() in MISSING), None)
        if blank is not None:
            raise BadInput(f"csv: {path} line {blank + 2}: the target column '{target}' is missing a value")
        if class_names is not None and (unknown := sorted(set(labels) - set(class_names))):
            raise BadInput(f"csv: {path}: target value(s) {', '.join(unknown[:5])} are not among the run's "
                           f"classes {', '.join(class_names)}")
    return x, labels, features


def _number(cell: str, path: Path, col: str, line: int, fillna: float | None) -> float:
    text = cell.strip()
    if text.lower() in MISSING:
        if fillna is None:
            raise BadInput(f"csv: {path} line {line}: column '{col}' is missing a value "
                           "(set data.options.fillna: a number to fill missing cells)")
        return fillna
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"csv: {path} line {line}: column '{col}' is not numeric ({text[:40]!r}); "
                       "feature columns must be numbers (drop it with data.options.features)") from None
    if not math.isfinite(value):
        raise BadInput(f"csv: {path} line {line}: column '{col}' holds {text!r}, not a finite number")
    return value


def _fillna_option(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadInput(f"data.options.fillna for 'csv' must be a number (the value for missing cells), got {value!r}")
    return float(value)


def csv(path: str | None, **options):
    """A CSV table with a header row: feature columns (numbers) and a target column (labels).

    options: ``target`` (required: the label column), ``features`` (the feature columns; default
    every other column), ``fillna`` (a number for missing cells; default: missing is bad input),
    ``test_path`` (a second CSV with the same columns as the test split; default: a split of
    ``data.path`` by ``seed`` (0) and ``test_fraction`` (0.2)). Labels (strings or numbers) become
    class ids in sorted order over train and test. Returns ``(x_train, y_train, x_test, y_test, meta)``.
    """
    opts = check_options("csv", options, {"target": None, "features": None, "fillna": None, "test_path": None,
                                     "seed": 0, "test_fraction": 0.2})
    if path is None:
        raise BadInput("csv: data.path is required: a CSV file with a header row")
    target = opts["target"]
    if not isinstance(target, str) or not target:
        raise BadInput("csv: data.options.target is required: the name of the label column")
    features = opts["features"]
    if features is not None and not (isinstance(features, list) and features and all(isinstance(c, str) for c in features)):
        raise BadInput(f"data.options.features for 'csv' must be a list of column names, got {features!r}")
    fillna = _fillna_option(opts["fillna"])
    files = [Path(path)] + ([Path(opts["test_path"])] if opts["test_path"] is not None else [])
    tables = []
    for f in files:
        if not f.is_file():
            raise BadInput(f"csv: no file {f}")
        x, labels, cols = read_table(f, target, features, fillna)
        if labels is None:
            raise BadInput(f"csv: {f} has no target column '{target}'")
        features = cols  # the test file must have the same feature columns
        tables.append((x, labels))
    names = sorted_names(label for _, labels in tables for label in labels)
    ids = {name: k for k, name in enumerate(names)}
    (x, labels), *rest = tables
    y = np.array([ids[v] for v in labels], dtype=np.int64)
    if rest:
        x_test, y_test = rest[0][0], np.array([ids[v] for v in rest[0][1]], dtype=np.int64)
    else:
        tr, te = seeded_split(len(x), opts["test_fraction"], int(opts["seed"]), "csv")
        x, y, x_test, y_test = x[tr], y[tr], x[te], y[te]
    meta = {"class_names": names, "features": features, "target": target, "fillna": fillna}
    return x, y, x_test, y_test, meta
