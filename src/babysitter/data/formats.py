"""Readers for the file formats the sources use: IDX (MNIST, Fashion-MNIST), the CIFAR-10
"python version" pickle batches, and ``.npz``. Each returns numpy arrays, raw (no scaling).

Anything wrong with a file (missing, truncated, bad magic number) raises BadInput with one line
that names the file.
"""

from __future__ import annotations

import gzip
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from babysitter.errors import BadInput

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Parse an IDX file (gzipped when the name ends in .gz) into an array with ``ndim`` axes.

    Layout: magic = 0x00 0x00 <type byte> <ndim byte>, then ``ndim`` big-endian uint32 sizes,
    then the values, big-endian, row-major.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise BadInput(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise BadInput(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    if raw[3] != ndim:
        raise BadInput(f"{path}: expected an IDX file with {ndim} dimension(s), it has {raw[3]}")
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise BadInput(f"{path}: header says {dims} ({expected} bytes of data), file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def find_idx(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz``, ``folder/stem`` or the ``train-images.idx3-ubyte`` spelling, first found."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (folder / name).is_file():
            return folder / name
    return None


# The CIFAR batches are pickles; unpickling runs code, so only the few numpy globals an array
# needs are allowed (a malicious file fails with BadInput instead of executing).
_ALLOWED_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.removeprefix("numpy.core.")  # numpy 2 spelling
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: ``{b'data': (N, 3072) uint8, b'labels': list}`` ->
    ``x (N, 3, 32, 32) uint8`` (rows are R, G, B planes of 32x32, row-major), ``y (N,) int64``."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{path} is not a CIFAR-10 python batch (dict with b'data', b'labels'): {e}") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise BadInput(f"{path}: expected data (N, 3072) and N labels, got {data.shape} and {len(labels)}")
    return data.reshape(-1, 3, 32, 32), labels


CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"


# what np.load raises for a file that is empty, cut short or not what its name says
_DAMAGED = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, RuntimeError, TypeError)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file: numbers only (no pickled objects, strings or records).
    An empty, truncated or foreign file is BadInput naming it."""
    path = Path(path)
    _not_empty(path, ".npz")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not named arrays")
        with loaded as f:
            arrays = {k: f[k] for k in f.files}
    except _DAMAGED as e:
        raise BadInput(f"cannot read {path} as .npz: {_why(e)}") from None
    for k, a in arrays.items():
        numeric(a, f"{path}: array '{k}'")
    return arrays


def read_npy(path: Path) -> np.ndarray:
    """The one array of an ``.npy`` file, numbers only; BadInput naming the file otherwise."""
    path = Path(path)
    _not_empty(path, ".npy")
    try:
        a = np.load(path, allow_pickle=False)
        if isinstance(a, np.lib.npyio.NpzFile):
            a.close()
            raise ValueError("it is an .npz archive of named arrays, not one .npy array")
    except _DAMAGED as e:
        raise BadInput(f"cannot read {path} as .npy: {_why(e)}") from None
    return numeric(a, f"{path}")


def numeric(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` if it holds numbers (bool, int, float); BadInput (``what`` names it) for strings,
    bytes, records, dates or complex numbers."""
    if a.dtype.kind not in "biuf":
        raise BadInput(f"{what} holds {a.dtype} values ({_KINDS.get(a.dtype.kind, 'not numbers')}); "
                       f"babysitter reads numeric arrays only")
    return a


_KINDS = {"U": "strings", "S": "bytes", "O": "objects", "V": "records", "M": "dates", "m": "time spans",
          "c": "complex numbers"}


def _not_empty(path: Path, kind: str) -> None:
    if path.is_file() and path.stat().st_size == 0:
        raise BadInput(f"cannot read {path} as {kind}: the file is empty (0 bytes)")


def _why(e: BaseException) -> str:
    text = " ".join(str(e).split())[:160]
    return f"{type(e).__name__}: {text}" if not text or isinstance(e, (EOFError, KeyError, zlib.error)) else text
