"""The data users have: a folder of images sorted into class folders (torchvision's ImageFolder
layout) and a CSV table. Both load into memory as numpy arrays like the other sources, and
return, besides ``(x_train, y_train, x_test, y_test)``, a ``meta`` dict that is saved with the
run (``data.json``) so ``babysit predict`` reads new inputs the same way and maps class ids back
to names:

    imagefolder  x (N, C, H, W) float32 in [0, 1] (pixels / 255), C = options.channels
                 meta {"class_names": sorted class folder names, "size": [H, W], "channels": C}
    csv          x (N, D) float32, the D feature columns in file order
                 meta {"class_names": sorted target values, "features": [D column names], ...}

Class ids are the positions of the names in sorted order (numbers sort as numbers). Without a
test part (``test/`` folder, ``options.test_path``), ``default_rng(seed).permutation(N)``'s last
``test_fraction`` is test, as the ``npz`` source does. Anything wrong (an empty class folder, an
unreadable image, a non-numeric feature, a missing value without ``fillna``) raises BadInput with
one line that names the file and the folder or column.
"""

from __future__ import annotations

import csv as csvlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from babysitter.errors import BadInput

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MISSING = ("", "na", "nan", "null", "none", "?")  # cells read as missing (compared lower-case)


def seeded_split(n: int, fraction: Any, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` indices: ``perm = default_rng(seed).permutation(n)``, the last
    ``round(fraction * n)`` are test (the ``npz`` source's rule)."""
    n_test = round(float(fraction) * n) if isinstance(fraction, (int, float)) and not isinstance(fraction, bool) else -1
    if not 0 < n_test < n:
        raise BadInput(f"{source}: test_fraction {fraction!r} of {n} examples leaves no test or no train set")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:-n_test], perm[-n_test:]


def sorted_names(values) -> list[str]:
    """Distinct label strings in sorted order; numerically when every one is a number."""
    distinct = set(values)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


# ------------------------------------------------------------------------------------ images


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (by suffix, hidden files skipped), sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path, size: list[int] | None, channels: int) -> np.ndarray:
    """One image through Pillow -> ``(channels, H, W)`` float32 in [0, 1]. Converted to
    grayscale ("L") for 1 channel or RGB for 3; resized (bilinear) to ``size = [H, W]`` if given."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / np.float32(255)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise BadInput(f"imagefolder: cannot read image {path}: {str(e).splitlines()[0][:160]}") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def first_image_format(path: Path) -> tuple[list[int], int]:
    """``([H, W], channels)`` of an image: 1 channel for grayscale modes, else 3."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return [im.size[1], im.size[0]], 1 if im.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
    except (UnidentifiedImageError, OSError) as e:
        raise BadInput(f"imagefolder: cannot read image {path}: {str(e).splitlines()[0][:160]}") from None


def read_images(files: list[Path], size: list[int], channels: int) -> np.ndarray:
    """``(N, channels, H, W)``; every image must come out as ``size`` (resized when it is given)."""
    x = np.empty((len(files), channels, *size), dtype=np.float32)
    for i, f in enumerate(files):
        a = read_image(f, size, channels)
        x[i] = a
    return x


def class_tree(folder: Path) -> dict[str, list[Path]]:
    """``{class name: image files}`` of ``folder/<class>/*``; BadInput for no class folder or an
    empty one."""
    if not folder.is_dir():
        raise BadInput(f"imagefolder: no folder {folder}")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise BadInput(f"imagefolder: {folder} has no class folders; expected {folder}/<class>/<image>.png")
    tree = {}
    for c in classes:
        files = image_files(c)
        if not files:
            raise BadInput(f"imagefolder: class folder {c} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        tree[c.name] = files
    return tree


def _size_option(value: Any) -> list[int] | None:
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok:
        raise BadInput(f"data.options.size for 'imagefolder' must be [H, W] (positive integers), got {value!r}")
    return [int(v) for v in value]


def image_format(options: dict, first: Path) -> tuple[list[int], int]:
    """``(size, channels)`` from the options, the missing ones from the first image."""
    size, channels = _size_option(options.get("size")), options.get("channels")
    if channels is not None and channels not in (1, 3):
        raise BadInput(f"data.options.channels for 'imagefolder' must be 1 or 3, got {channels!r}")
    if size is None or channels is None:
        first_size, first_channels = first_image_format(first)
        size, channels = size or first_size, channels or first_channels
    return size, channels


def imagefolder(path: str | None, **options):
    """Images in class folders: ``data.path/train/<class>/*`` and ``data.path/test/<class>/*``,
    or one tree ``data.path/<class>/*`` split by ``seed`` / ``test_fraction``.

    options: ``size`` ([H, W]; default the first image's, every other image must match it or is
    resized to it when ``size`` is given), ``channels`` (1 | 3; default: 1 if the first image is
    grayscale, else 3), ``seed`` (0), ``test_fraction`` (0.2). Class ids: class folder names
    sorted; a test class folder must also exist in train.
    Returns ``(x_train, y_train, x_test, y_test, meta)``.
    """
    from babysitter.data.sources import _options

    opts = _options("imagefolder", options, {"size": None, "channels": None, "seed": 0, "test_fraction": 0.2})
    if path is None:
        raise BadInput("imagefolder: data.path is required: a folder with train/<class>/* and test/<class>/*, or <class>/*")
    root = Path(path)
    if not root.is_dir():
        raise BadInput(f"imagefolder: no folder {root}")
    split = (root / "train").is_dir() and (root / "test").is_dir()
    train = class_tree(root / "train" if split else root)
    names = sorted(train)
    test = class_tree(root / "test") if split else None
    if test is not None and (extra := sorted(set(test) - set(train))):
        raise BadInput(f"imagefolder: test class folder(s) {', '.join(extra)} have no train folder in {root / 'train'}")
    size, channels = image_format(opts, next(iter(train.values()))[0])
    resize = opts["size"] is not None

    def arrays(tree):
        files = [f for c in names for f in tree.get(c, [])]
        y = np.array([k for k, c in enumerate(names) for _ in tree.get(c, [])], dtype=np.int64)
        return _same_size(files, size, channels, resize), y

    x, y = arrays(train)
    if test is not None:
        x_test, y_test = arrays(test)
    else:
        tr, te = seeded_split(len(x), opts["test_fraction"], int(opts["seed"]), "imagefolder")
        x, y, x_test, y_test = x[tr], y[tr], x[te], y[te]
    meta = {"class_names": names, "size": size, "channels": channels}
    return x, y, x_test, y_test, meta


def _same_size(files: list[Path], size: list[int], channels: int, resize: bool) -> np.ndarray:
    """Read ``files``; without ``size`` in the options, an image of another size is bad input."""
    if resize:
        return read_images(files, size, channels)
    x = np.empty((len(files), channels, *size), dtype=np.float32)
    for i, f in enumerate(files):
        a = read_image(f, None, channels)
        if list(a.shape[1:]) != size:
            raise BadInput(f"imagefolder: {f} is {a.shape[1]}x{a.shape[2]}, the first image {size[0]}x{size[1]}; "
                           "set data.options.size: [H, W] to resize them all")
        x[i] = a
    return x


# ------------------------------------------------------------------------------------ tables


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
    from babysitter.data.sources import _options

    opts = _options("csv", options, {"target": None, "features": None, "fillna": None, "test_path": None,
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
