"""Data sources (spec ``data.source``) and :func:`load_data`, which turns a DataSpec into
train / val / test tensors with the preprocessing fitted on train only.

Every loader in :data:`SOURCES` is ``loader(path: str | None, **options)`` -> numpy
``(x_train, y_train, x_test, y_test)``; ``options`` is ``data.options`` and unknown keys raise
BadInput listing the valid ones. Canonical x shapes (float32, images scaled to [0, 1]):

    mnist1d         (N, 40)          sequences; 4000 train / 1000 test, generated offline
    digits          (N, 1, 8, 8)     sklearn's 8x8 digits / 16; 1438 train / 359 test
    spirals         (N, 2)           CS231n's toy spiral, points * classes per split
    fashion-mnist   (N, 1, 28, 28)   IDX files / 255; 60000 / 10000
    mnist           (N, 1, 28, 28)   IDX files / 255; 60000 / 10000
    cifar10         (N, 3, 32, 32)   python pickle batches / 255; 50000 / 10000
    npz             (N, ...)         arrays x, y [, x_test, y_test] as stored
    imagefolder     (N, C, H, W)     image files in class folders / 255 (data/images.py)
    csv             (N, D)           the numeric feature columns of a CSV table (data/tables.py)

A loader may return a fifth element, ``meta`` (a JSON-able dict such as ``{"class_names": [...]}``),
kept as ``Dataset.meta`` and saved with the run as ``data.json``.

Two ``data.options`` apply to every source (taken out before the loader sees the rest):
``classes: [5, 6, 7, 8, 9]`` keeps only those classes, train and test, relabelled 0..K-1 in the
order given; ``per_class: N`` keeps the first N training examples of each class (after the
validation split, like ``subset``) -- the few labelled examples of a transfer target.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import Tensor

from babysitter.data.formats import (
    CIFAR_TEST,
    CIFAR_TRAIN,
    IDX_FILES,
    find_idx,
    read_cifar_batch,
    read_idx,
    read_npz,
)
from babysitter.data.images import imagefolder
from babysitter.data.options import check_int as _int
from babysitter.data.options import check_options as _options
from babysitter.data.options import seeded_split
from babysitter.data.preprocess import Preprocessor
from babysitter.data.tables import csv
from babysitter.errors import BadInput

if TYPE_CHECKING:  # spec.py imports this module lazily; avoid pydantic/yaml at import time
    from babysitter.spec import DataSpec

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist


def _no_path(source: str, path: str | None) -> None:
    if path is not None:
        raise BadInput(f"data.path: source '{source}' is generated in memory and takes no path (got {path!r})")


# -- generated / packaged sources


def cache_dir() -> Path:
    """``$BABYSITTER_CACHE``, else ``$XDG_CACHE_HOME/babysitter``, else ``~/.cache/babysitter``
    (a process with no home folder caches in the temp folder)."""
    if os.environ.get("BABYSITTER_CACHE"):
        return Path(os.environ["BABYSITTER_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "babysitter"
    try:
        return Path.home() / ".cache" / "babysitter"
    except RuntimeError:  # no $HOME and no passwd entry
        return Path(tempfile.gettempdir()) / "babysitter-cache"


def _make_mnist1d(seed: int, num_samples: int) -> Arrays:
    """MNIST-1D generated with the package's own code (never its download); its global RNG
    seeding is undone afterwards so loading data does not reseed the caller's ``np.random``."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed, args.num_samples = seed, num_samples
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return d["x"], d["y"], d["x_test"], d["y_test"]


def mnist1d(path: str | None, **options) -> Arrays:
    """MNIST-1D (Greydanus 2020): ``mnist1d.data.make_dataset`` with the paper's arguments --
    5000 sequences of length 40, 10 classes, the first 80% (4000) train, the rest test.
    options: ``seed`` (42, the paper's), ``num_samples`` (5000). Generation takes seconds, so
    the arrays are cached as ``mnist1d-seed<S>-n<N>.npz`` in :func:`cache_dir` (atomic write)."""
    _no_path("mnist1d", path)
    opts = _options("mnist1d", options, {"seed": 42, "num_samples": 5000})
    seed, n = _int("mnist1d", "seed", opts["seed"], 0), _int("mnist1d", "num_samples", opts["num_samples"], 20)
    file = cache_dir() / f"mnist1d-seed{seed}-n{n}.npz"
    names = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(file, allow_pickle=False) as f:
            return tuple(f[k] for k in names)
    except (OSError, ValueError, KeyError):
        pass  # no cache yet (or a broken one): generate and (re)write it
    arrays = _make_mnist1d(seed, n)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **dict(zip(names, arrays)))
            os.replace(tmp, file)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except OSError:
        pass  # an unwritable cache only costs the regeneration next time
    return arrays


def digits(path: str | None, **options) -> Arrays:
    """sklearn's 8x8 handwritten digits (1797 images, 10 classes) as (N, 1, 8, 8) / 16
    (option ``raw: true``: the pixel counts 0..16 as sklearn ships them, not scaled).
    Fixed split: ``np.random.default_rng(0).permutation(1797)``, its last 20% (359) test."""
    _no_path("digits", path)
    opts = _options("digits", options, {"raw": False})
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[:, None] / (1.0 if opts["raw"] else 16.0)).astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(x))
    n_test = len(x) // 5
    train, test = perm[:-n_test], perm[-n_test:]
    return x[train], d.target[train], x[test], d.target[test]


def spiral(points: int, classes: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CS231n's spiral (neural-networks-case-study): for arm j, ``r = linspace(0, 1, N)``,
    ``t = linspace(4j, 4(j+1), N) + noise * randn(N)``, ``x = (r sin t, r cos t)``.
    Returns ``x (N*K, 2)``, ``y (N*K,)``, ordered by class."""
    x = np.zeros((points * classes, 2), dtype=np.float32)
    y = np.repeat(np.arange(classes), points)
    for j in range(classes):  # one vectorised draw per arm
        r = np.linspace(0.0, 1.0, points)
        t = np.linspace(j * 4, (j + 1) * 4, points) + rng.standard_normal(points) * noise
        x[j * points : (j + 1) * points] = np.c_[r * np.sin(t), r * np.cos(t)]
    return x, y


def spirals(path: str | None, **options) -> Arrays:
    """The spiral toy. options: ``points`` per class (100), ``classes`` (3), ``noise`` (0.2),
    ``seed`` (0). Train draws from ``default_rng([seed, 0])``, test is a second draw of the
    same size from ``default_rng([seed, 1])``."""
    _no_path("spirals", path)
    opts = _options("spirals", options, {"points": 100, "classes": 3, "noise": 0.2, "seed": 0})
    points = _int("spirals", "points", opts["points"], 1)
    classes = _int("spirals", "classes", opts["classes"], 2)
    seed = _int("spirals", "seed", opts["seed"], 0)
    noise = opts["noise"]
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < float("inf"):
        raise BadInput(f"data.options.noise for 'spirals' must be a number >= 0, got {noise!r}")
    train = spiral(points, classes, float(noise), np.random.default_rng([seed, 0]))
    test = spiral(points, classes, float(noise), np.random.default_rng([seed, 1]))
    return (*train, *test)


# -- file-backed sources


def _idx_source(source: str, path: str | None, default: str | None, hint: str, options: dict) -> Arrays:
    """The four IDX files of an MNIST-style folder -> x (N, 1, 28, 28) / 255, y (N,)."""
    _options(source, options, {})
    if path is None and default is None:
        raise BadInput(f"{source}: data.path is required; {hint}")
    folder = Path(path or default)
    arrays = {}
    for key, stem in IDX_FILES.items():
        file = find_idx(folder, stem)
        if file is None:
            where = folder if folder.is_dir() else f"{folder} (no such folder)"
            raise BadInput(f"{source}: no {stem}.gz in {where}; {hint}")
        arrays[key] = read_idx(file, 3 if key.startswith("x") else 1)
    x_train, x_test = (arrays[k][:, None].astype(np.float32) / np.float32(255) for k in ("x_train", "x_test"))
    return x_train, arrays["y_train"], x_test, arrays["y_test"]


def fashion_mnist(path: str | None, **options) -> Arrays:
    """Fashion-MNIST (Zalando) from IDX files; default folder /usr/share/datasets/fashion-mnist."""
    hint = "apt-get install dataset-fashion-mnist, or set data.path to a folder with the four IDX .gz files"
    return _idx_source("fashion-mnist", path, FASHION_MNIST_DIR, hint, options)


def mnist(path: str | None, **options) -> Arrays:
    """MNIST from IDX files in the folder ``data.path`` (no default)."""
    hint = "set data.path to a folder with the four MNIST IDX .gz files (train-images-idx3-ubyte.gz, ...)"
    return _idx_source("mnist", path, None, hint, options)


def cifar10(path: str | None, **options) -> Arrays:
    """CIFAR-10, python version: ``data.path`` is the ``cifar-10-batches-py`` folder holding
    ``data_batch_1..5`` and ``test_batch``. x (N, 3, 32, 32) / 255."""
    _options("cifar10", options, {})
    hint = "set data.path to the cifar-10-batches-py folder (CIFAR-10 python version)"
    if path is None:
        raise BadInput(f"cifar10: data.path is required; {hint}")
    folder = Path(path)
    for name in (*CIFAR_TRAIN, CIFAR_TEST):
        if not (folder / name).is_file():
            where = folder if folder.is_dir() else f"{folder} (no such folder)"
            raise BadInput(f"cifar10: no {name} in {where}; {hint}")
    train = [read_cifar_batch(folder / name) for name in CIFAR_TRAIN]
    x_test, y_test = read_cifar_batch(folder / CIFAR_TEST)
    x_train = np.concatenate([x for x, _ in train]).astype(np.float32) / np.float32(255)
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test.astype(np.float32) / np.float32(255), y_test


def npz(path: str | None, **options) -> Arrays:
    """Arrays ``x (N, ...)``, ``y (N,)`` and optionally ``x_test``, ``y_test`` from an .npz file.
    Without a test split, ``default_rng(seed).permutation(N)``'s last ``test_fraction`` is test.
    options: ``seed`` (0), ``test_fraction`` (0.2). x is used as stored (no scaling)."""
    opts = _options("npz", options, {"seed": 0, "test_fraction": 0.2})
    if path is None:
        raise BadInput("npz: data.path is required: an .npz file with arrays x, y (and optionally x_test, y_test)")
    if not Path(path).is_file():
        raise BadInput(f"npz: no file {path}; data.path must be an .npz file with arrays x, y")
    arrays = read_npz(Path(path))
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise BadInput(f"npz: {path} lacks array(s) {', '.join(missing)}; it has {', '.join(arrays) or 'none'}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise BadInput(f"npz: {path} has only one of x_test, y_test; give both or neither")
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise BadInput(f"npz: {path}: x {x.shape} and y {y.shape} must have the same first axis N")
    if "x_test" in arrays:
        return x, y, arrays["x_test"], arrays["y_test"]
    train, test = seeded_split(len(x), opts["test_fraction"], _int("npz", "seed", opts["seed"], 0), "npz")
    return x[train], y[train], x[test], y[test]


SOURCES: dict[str, Callable[..., Arrays]] = {
    "mnist1d": mnist1d,
    "digits": digits,
    "spirals": spirals,
    "fashion-mnist": fashion_mnist,
    "mnist": mnist,
    "cifar10": cifar10,
    "npz": npz,
    "imagefolder": imagefolder,
    "csv": csv,
}


# -- the data set a run trains on


@dataclass(repr=False)
class Dataset:
    """Train / val / test tensors (x float32, y int64) after preprocessing.

    ``preprocess`` is the Preprocessor fitted on ``x_train`` (None without steps); it has
    already been applied to all three splits. ``x_*: (N, *sample_shape)``, ``y_*: (N,)``.
    ``meta``: what the source says about its raw input (e.g. ``class_names``), saved as data.json.
    """

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    name: str
    preprocess: Preprocessor | None = None
    meta: dict = field(default_factory=dict)

    @property
    def sample_shape(self) -> torch.Size:
        return self.x_train.shape[1:]

    def __repr__(self) -> str:
        sizes = f"train={len(self.x_train)}, val={len(self.x_val)}, test={len(self.x_test)}"
        return f"Dataset({self.name!r}, {sizes}, sample_shape={tuple(self.sample_shape)}, classes={self.num_classes})"


def _checked(split: str, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """x -> float32 (N, ...) without NaN/Inf; y -> int64 (N,) without negatives."""
    try:
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
    except (TypeError, ValueError):
        raise BadInput(f"data: x_{split} is not a numeric array") from None
    if x.ndim < 2:
        raise BadInput(f"data: x_{split} must be (N, ...) with a feature axis, got shape {x.shape}")
    if y.ndim != 1:
        raise BadInput(f"data: y_{split} must be (N,) class indices, got shape {y.shape}")
    if len(x) != len(y):
        raise BadInput(f"data: x_{split} has {len(x)} examples but y_{split} has {len(y)} labels")
    if len(x) == 0:
        raise BadInput(f"data: the {split} split is empty")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise BadInput(f"data: x_{split} has {bad} NaN/Inf value(s)")
    if y.dtype.kind not in "iu":
        integral = y.dtype.kind in "fb" and np.all(np.isfinite(y)) and np.all(y == np.round(y))
        if not integral:
            raise BadInput(f"data: y_{split} must hold integer class indices, got {y.dtype} values such as {y[0]!r}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise BadInput(f"data: y_{split} has {int((y < 0).sum())} negative label(s); labels must be 0..C-1")
    return x, y


def _num_classes(y_train: np.ndarray, y_test: np.ndarray) -> int:
    """C = max label + 1 over train and test; every class 0..C-1 must occur in one of them
    (an empty class usually means 1-based labels or unmapped ids)."""
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    present = np.zeros(num_classes, dtype=bool)
    present[y_train] = present[y_test] = True
    if not present.all():
        absent = np.flatnonzero(~present)
        shown = ", ".join(map(str, absent[:5])) + (", ..." if len(absent) > 5 else "")
        raise BadInput(f"data: labels must be 0..C-1 with every class present; no example of class {shown} (C = {num_classes})")
    if num_classes < 2:
        raise BadInput("data: only one class (0) in the labels; classification needs at least 2")
    return num_classes


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` of a training set of ``n``: ``perm = default_rng(seed).permutation(n)``,
    ``val = perm[:n_val]``, ``train = perm[n_val:]`` (kept in that shuffled order), with
    ``n_val = round(fraction * n)`` (at least 1 when fraction > 0)."""
    n_val = round(fraction * n)
    if fraction > 0:
        n_val = max(1, n_val)
    if n_val >= n:
        raise BadInput(f"data.val_fraction {fraction} of {n} training examples leaves none to train on")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[n_val:], perm[:n_val]


GENERIC_OPTIONS = ("classes", "per_class")


def load_data(spec: DataSpec, seed: int) -> Dataset:
    """Load ``spec.source`` (a DataSpec) and build the :class:`Dataset` (see :func:`from_arrays`);
    the generic options ``classes`` and ``per_class`` apply to any source."""
    options = {k: v for k, v in spec.options.items() if k not in GENERIC_OPTIONS}
    arrays = SOURCES[spec.source](spec.path, **options)
    arrays, meta = (arrays[:4], dict(arrays[4])) if len(arrays) == 5 else (arrays, {})
    if "classes" in spec.options:
        arrays = select_classes(*arrays, spec.options["classes"])
        if meta.get("class_names"):
            meta["class_names"] = [meta["class_names"][c] for c in spec.options["classes"]]
    data = from_arrays(*arrays, spec=spec, seed=seed, name=spec.source)
    data.meta = meta
    return data


def select_classes(x_train, y_train, x_test, y_test, classes) -> Arrays:
    """Keep the examples of ``classes`` (a list of distinct labels), relabelled 0..K-1 in that order."""
    ok = (isinstance(classes, list) and len(classes) >= 2 and len(set(classes)) == len(classes)
          and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in classes))
    if not ok:
        raise BadInput(f"data.options.classes must be a list of at least 2 distinct labels >= 0, got {classes!r}")
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    absent = [c for c in classes if not (y_train == c).any()]
    if absent:
        raise BadInput(f"data.options.classes: no training example of class {absent}; "
                       f"the labels present are {sorted(set(y_train.tolist()))}")
    relabel = {c: k for k, c in enumerate(classes)}
    out = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        keep = np.isin(y, classes)
        out += [np.asarray(x)[keep], np.array([relabel[c] for c in y[keep].tolist()], dtype=np.int64)]
    return tuple(out)


def first_per_class(y: np.ndarray, n: Any) -> np.ndarray:
    """Positions of the first ``n`` entries of each class in ``y`` (in ``y``'s order)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise BadInput(f"data.options.per_class must be an integer >= 1, got {n!r}")
    counts = np.bincount(y)
    short = np.flatnonzero(counts < n)
    if len(short):
        raise BadInput(f"data.options.per_class {n}: class {short[0]} has only {counts[short[0]]} "
                       f"training examples after the validation split")
    rank = np.zeros(len(y), dtype=np.int64)
    for c in range(len(counts)):
        rank[y == c] = np.arange(counts[c])
    return np.flatnonzero(rank < n)


def from_arrays(x_train, y_train, x_test, y_test, spec: DataSpec, seed: int, name: str = "arrays") -> Dataset:
    """Build a :class:`Dataset` from arrays or tensors, in this order:

    1. the train/test arrays, checked (shapes, NaN/Inf, labels 0..C-1);
    2. validation carved from TRAIN only (:func:`split_validation` with ``seed``); test untouched;
    3. ``options.per_class``: the first N of each class of the remaining (shuffled) training examples;
    4. ``subset``: the first N of the remaining (shuffled) training examples;
    5. the Preprocessor fitted on that training split, applied unchanged to train/val/test.
    ``spec.source`` and ``spec.path`` are not used here.
    """
    x_train, y_train, x_test, y_test = (a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)
                                        for a in (x_train, y_train, x_test, y_test))
    x_train, y_train = _checked("train", x_train, y_train)
    x_test, y_test = _checked("test", x_test, y_test)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise BadInput(f"data: train examples have shape {x_train.shape[1:]} but test examples {x_test.shape[1:]}")
    num_classes = _num_classes(y_train, y_test)
    train, val = split_validation(len(x_train), spec.val_fraction, seed)
    if spec.options.get("per_class") is not None:
        train = train[first_per_class(y_train[train], spec.options["per_class"])]
    if spec.subset is not None:
        if spec.subset > len(train):
            raise BadInput(f"data.subset {spec.subset} exceeds the {len(train)} training examples left after validation")
        train = train[: spec.subset]
    tensors = [torch.from_numpy(a) for a in (x_train[train], y_train[train], x_train[val], y_train[val], x_test, y_test)]
    pre = Preprocessor(spec.preprocess).fit(tensors[0]) if spec.preprocess else None
    if pre is not None:
        tensors[0::2] = [pre(x) for x in tensors[0::2]]
    return Dataset(*tensors, num_classes=num_classes, name=name, preprocess=pre)
