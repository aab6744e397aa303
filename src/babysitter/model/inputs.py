"""Inputs to predict on, read from files the way the run's source read its training data.

:func:`read_input` -> ``(x (N, *input_shape) float32, y (N,) int64 class ids or None, ids)``:

    .npz          ``x_test`` [+ ``y_test``] when present, else ``x`` [+ ``y``]; ids "0".."N-1"
    .npy          one array x; no labels
    .csv          a csv run: its feature columns by name; labels when the target column is
                  there (mapped through the run's class names); ids: the data rows, 1-based
    image / dir   an imagefolder run: one image, a folder of images (ids: file names) or of class
                  folders (labels from the folder names; ids: class/file)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from babysitter.errors import BadInput


def read_input(predictor, path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    source = predictor.meta.get("source")
    if not path.exists():
        raise BadInput(f"predict: no such input {path}")
    suffix = path.suffix.lower()
    if path.is_file() and suffix == ".npz":
        return _npz(predictor, path)
    if path.is_file() and suffix == ".npy":
        return _npy(path)
    if source == "csv" and path.is_file() and suffix in (".csv", ".txt"):
        return _csv(predictor, path)
    if source == "imagefolder":
        return _images(predictor, path)
    accepted = {"csv": ".npz, .npy or .csv", "imagefolder": ".npz, .npy, an image or a folder of images"}
    raise BadInput(f"predict: cannot read {path} for a '{source}' run; give {accepted.get(source, 'an .npz or .npy file')}")


def _labels(predictor, y: np.ndarray, path: Path) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise BadInput(f"predict: labels in {path} must be (N,) integer class ids, got {y.dtype} {y.shape}")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= predictor.num_classes):
        raise BadInput(f"predict: labels in {path} must be 0..{predictor.num_classes - 1}, found {y.min()}..{y.max()}")
    return y


def _npz(predictor, path: Path):
    from babysitter.data.formats import read_npz

    arrays = read_npz(path)
    key = "x_test" if "x_test" in arrays else "x"
    if key not in arrays:
        raise BadInput(f"predict: {path} holds no array x or x_test; it has {', '.join(arrays) or 'none'}")
    x = arrays[key]
    if x.ndim == 0:
        raise BadInput(f"predict: {path}: {key} holds one number, not examples (N, ...)")
    labels = arrays.get("y_test" if key == "x_test" else "y")
    y = _labels(predictor, labels, path) if labels is not None else None
    if y is not None and len(y) != len(x):
        raise BadInput(f"predict: {path}: {key} has {len(x)} examples but its labels {len(y)}")
    return x, y, [str(i) for i in range(len(x))]


def _npy(path: Path):
    from babysitter.data.formats import read_npy

    x = read_npy(path)
    if x.ndim == 0:
        raise BadInput(f"predict: {path} holds one number, not examples (N, ...)")
    return x, None, [str(i) for i in range(len(x))]


def _csv(predictor, path: Path):
    from babysitter.data.tables import read_table

    m = predictor.meta
    names = m["class_names"]
    x, labels, _ = read_table(path, m.get("target"), m["features"], m.get("fillna"), class_names=names)
    y = None if labels is None else np.array([names.index(v) for v in labels], dtype=np.int64)
    return x, y, [str(i) for i in range(1, len(x) + 1)]


def _images(predictor, path: Path):
    from babysitter.data.images import image_files, read_images

    m = predictor.meta
    size, channels = m["size"], m["channels"]
    if path.is_file():
        return read_images([path], size, channels), None, [path.name]
    files = image_files(path)
    if files:
        return read_images(files, size, channels), None, [f.name for f in files]
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise BadInput(f"predict: {path} holds no images and no class folders")
    names = m["class_names"]
    unknown = [f.name for f in folders if f.name not in names]
    if unknown:
        raise BadInput(f"predict: class folder(s) {', '.join(unknown[:5])} in {path} are not among the run's "
                       f"classes {', '.join(names)}")
    pairs = [(f, names.index(c.name)) for c in folders for f in image_files(c)]
    if not pairs:
        raise BadInput(f"predict: the class folders in {path} hold no images")
    x = read_images([f for f, _ in pairs], size, channels)
    return x, np.array([k for _, k in pairs], dtype=np.int64), [f"{f.parent.name}/{f.name}" for f, _ in pairs]
