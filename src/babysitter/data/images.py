"""Images sorted into class folders (torchvision's ImageFolder layout), read with Pillow.

``imagefolder`` returns ``(x_train, y_train, x_test, y_test, meta)``: x ``(N, C, H, W)`` float32 in
[0, 1] (pixels / 255), class ids = the class folder names in sorted order, and
``meta = {"class_names", "size": [H, W], "channels": C}``, saved with the run (``data.json``) so
``babysit predict`` reads new images the same way. Without a ``test/`` folder,
``default_rng(seed).permutation(N)``'s last ``test_fraction`` is test, as for ``npz``. An empty
class folder, an unreadable image or an image of another size raises BadInput naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from babysitter.data.options import check_options, seeded_split
from babysitter.errors import BadInput

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")



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
    opts = check_options("imagefolder", options, {"size": None, "channels": None, "seed": 0, "test_fraction": 0.2})
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
