"""Real data written as the files users have: sklearn's digits as PNG class folders, iris as a CSV
with a string target column. Shared by the data-source, predict and export tests."""

from pathlib import Path

import numpy as np

IRIS_NAMES = ["setosa", "versicolor", "virginica"]


def digits_arrays():
    """sklearn's digits with the ``digits`` source's split: (x_train, y_train, x_test, y_test),
    x the 8x8 pixel counts 0..16 as uint8 * 15 (0..240, exact in a PNG)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images * 15).astype(np.uint8)
    perm = np.random.default_rng(0).permutation(len(x))
    n_test = len(x) // 5
    return x[perm[:-n_test]], d.target[perm[:-n_test]], x[perm[-n_test:]], d.target[perm[-n_test:]]


def write_digits_pngs(root: Path, split: bool = True, limit: int | None = None) -> tuple:
    """``root/{train,test}/<digit>/<i>.png`` (or one tree ``root/<digit>/<i>.png`` of the train
    part when ``split`` is False). Class folders are named d0..d9 so names sort like the digits.
    Returns the arrays written."""
    from PIL import Image

    x_train, y_train, x_test, y_test = digits_arrays()
    if limit is not None:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    parts = [("train", x_train, y_train), ("test", x_test, y_test)] if split else [("", x_train, y_train)]
    for name, x, y in parts:
        for i, (img, label) in enumerate(zip(x, y)):
            folder = root / name / f"d{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img, mode="L").save(folder / f"{i:04d}.png")
    return x_train, y_train, x_test, y_test


def write_iris_csv(path: Path, rows=None) -> tuple[np.ndarray, list[str]]:
    """iris as CSV: four numeric columns and a string ``species`` column, rows shuffled with
    ``default_rng(0)``. Returns (x, species) as written."""
    from sklearn.datasets import load_iris

    d = load_iris()
    order = np.random.default_rng(0).permutation(len(d.target))
    x, y = d.data[order], d.target[order]
    if rows is not None:
        x, y = x[rows], y[rows]
    species = [IRIS_NAMES[k] for k in y]
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    lines = [",".join(cols + ["species"])] + [",".join([*(f"{v:g}" for v in r), s]) for r, s in zip(x, species)]
    path.write_text("\n".join(lines) + "\n")
    return x, species
