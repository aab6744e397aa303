"""Sources and load_data: file formats written here with numpy/gzip/pickle, checked byte for byte;
splits and preprocessing checked against numpy on the raw arrays."""

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from babysitter.data import SOURCES, load_data
from babysitter.data import sources
from babysitter.errors import BadInput
from babysitter.spec import DataSpec


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """IDX by hand: 0x00 0x00 0x08 <ndim>, big-endian uint32 sizes, uint8 values."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def write_mnist_folder(folder: Path, rng, compress=True, n_train=7, n_test=3):
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3) % 10,
    }
    for stem, a in arrays.items():
        write_idx(folder / stem, a, compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip_through_fashion_mnist_source(tmp_path, compress):
    arrays = write_mnist_folder(tmp_path, np.random.default_rng(0), compress)
    x_train, y_train, x_test, y_test = SOURCES["fashion-mnist"](str(tmp_path))
    assert x_train.shape == (7, 1, 28, 28) and x_test.shape == (3, 1, 28, 28)
    np.testing.assert_allclose(x_train[:, 0], arrays["train-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x_test[:, 0], arrays["t10k-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_idx_bad_magic_and_truncated_file(tmp_path):
    write_mnist_folder(tmp_path, np.random.default_rng(0))
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x1f\x8b\x08\x01" + bytes(8))
    with pytest.raises(BadInput, match="not an IDX file"):
        SOURCES["mnist"](str(tmp_path))
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + np.array([5], ">u4").tobytes() + bytes(3))  # says 5, has 3
    with pytest.raises(BadInput, match="header says"):
        SOURCES["mnist"](str(tmp_path))


def test_missing_files_give_one_line_saying_where_and_how(tmp_path):
    with pytest.raises(BadInput) as e:
        SOURCES["fashion-mnist"](str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path) in msg and "apt-get install dataset-fashion-mnist" in msg
    if not Path(sources.FASHION_MNIST_DIR).is_dir():
        with pytest.raises(BadInput, match="/usr/share/datasets/fashion-mnist"):
            SOURCES["fashion-mnist"](None)
    with pytest.raises(BadInput, match="data.path is required"):
        SOURCES["mnist"](None)
    with pytest.raises(BadInput, match="data.path is required"):
        SOURCES["cifar10"](None)
    with pytest.raises(BadInput) as e:
        SOURCES["cifar10"](str(tmp_path / "nowhere"))
    assert "\n" not in str(e.value) and "no such folder" in str(e.value)


def write_cifar_folder(folder: Path, rng, per_batch=2, n_test=3):
    batches = {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        batch = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"filenames": [b"img.png"] * n,
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        batches[name] = batch
    return batches


def test_cifar_pickle_folder_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    batches = write_cifar_folder(tmp_path, rng)
    x_train, y_train, x_test, y_test = SOURCES["cifar10"](str(tmp_path))
    assert x_train.shape == (10, 3, 32, 32) and x_test.shape == (3, 3, 32, 32)
    data = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    # row layout of the CIFAR file: the red plane (1024 values, row-major), green, then blue
    n, c, i, j = 7, 2, 5, 30
    assert x_train[n, c, i, j] == pytest.approx(data[n, c * 1024 + i * 32 + j] / 255.0)
    np.testing.assert_allclose(x_train.reshape(10, -1), data / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x_test.reshape(3, -1), batches["test_batch"][b"data"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_train, sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), []))
    np.testing.assert_array_equal(y_test, batches["test_batch"][b"labels"])


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_cifar_pickle_with_code_is_refused(tmp_path):
    write_cifar_folder(tmp_path, np.random.default_rng(0))
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f)
    with pytest.raises(BadInput, match="refusing to load"):
        SOURCES["cifar10"](str(tmp_path))


def test_npz_with_and_without_test_arrays(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(10, 3)), np.arange(10) % 2
    np.savez(tmp_path / "both.npz", x=x, y=y, x_test=x[:4] + 1, y_test=y[:4])
    x_tr, y_tr, x_te, y_te = SOURCES["npz"](str(tmp_path / "both.npz"))
    np.testing.assert_array_equal(x_tr, x)
    np.testing.assert_array_equal(x_te, x[:4] + 1)
    np.savez(tmp_path / "carve.npz", x=x, y=y)
    x_tr, y_tr, x_te, y_te = SOURCES["npz"](str(tmp_path / "carve.npz"))
    perm = np.random.default_rng(0).permutation(10)
    np.testing.assert_array_equal(x_te, x[perm[8:]])
    np.testing.assert_array_equal(np.sort(np.concatenate([x_tr, x_te]), axis=0), np.sort(x, axis=0))
    assert len(x_tr) == 8 and len(x_te) == 2
    np.savez(tmp_path / "noy.npz", x=x, labels=y)
    with pytest.raises(BadInput, match="lacks array.* y; it has x, labels"):
        SOURCES["npz"](str(tmp_path / "noy.npz"))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_unknown_option_lists_valid_ones(name):
    with pytest.raises(BadInput, match="unknown option.*bogus.*valid:"):
        SOURCES[name](None, bogus=1)


def npz_spec(tmp_path, val_fraction=0.0, preprocess=(), subset=None, **arrays):
    np.savez(tmp_path / "d.npz", **arrays)
    return DataSpec(source="npz", path=str(tmp_path / "d.npz"), val_fraction=val_fraction,
                    preprocess=list(preprocess), subset=subset)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 1, -1, 1], "y_train has 1 negative"),
        ([0, 1, 0.5, 1], "integer class indices"),
        ([1, 2, 2, 1], "no example of class 0"),
        ([0, 0, 0, 0], "at least 2"),
    ],
)
def test_bad_labels_are_rejected(tmp_path, labels, message):
    x = np.zeros((4, 2))
    spec = npz_spec(tmp_path, x=x, y=np.array(labels), x_test=x[:2], y_test=np.array(labels[:2]))
    with pytest.raises(BadInput, match=message):
        load_data(spec, seed=0)


def test_float_integral_labels_accepted_and_class_count_spans_train_and_test(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 2))
    spec = npz_spec(tmp_path, x=x, y=np.array([0.0, 1, 2, 0, 1, 2]), x_test=x[:2], y_test=np.array([3, 1]))
    d = load_data(spec, seed=0)
    assert d.num_classes == 4 and d.y_train.dtype == torch.int64 and d.x_train.dtype == torch.float32


def test_nan_and_length_mismatch_are_rejected(tmp_path):
    x = np.ones((5, 3))
    x_test = np.ones((4, 3))
    x_test[1, 2] = np.nan
    x_test[3, 0] = np.inf
    spec = npz_spec(tmp_path, x=x, y=np.arange(5) % 2, x_test=x_test, y_test=np.arange(4) % 2)
    with pytest.raises(BadInput, match="x_test has 2 NaN/Inf"):
        load_data(spec, seed=0)
    spec = npz_spec(tmp_path, x=x, y=np.arange(5) % 2, x_test=x[:3], y_test=np.arange(4) % 2)
    with pytest.raises(BadInput, match="x_test has 3 examples but y_test has 4"):
        load_data(spec, seed=0)


def test_mnist1d_val_is_carved_from_train_never_from_test():
    raw_x, raw_y, raw_xt, raw_yt = SOURCES["mnist1d"](None)
    assert raw_x.shape == (4000, 40) and raw_xt.shape == (1000, 40)
    d = load_data(DataSpec(source="mnist1d", preprocess=[]), seed=3)
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (3600, 400, 1000)
    assert d.num_classes == 10 and d.sample_shape == (40,) and d.preprocess is None
    np.testing.assert_array_equal(d.x_test.numpy(), raw_xt.astype(np.float32))
    train_rows = {r.tobytes() for r in raw_x.astype(np.float32)}
    test_rows = {r.tobytes() for r in raw_xt.astype(np.float32)}
    val_rows = {r.tobytes() for r in d.x_val.numpy()}
    fit_rows = {r.tobytes() for r in d.x_train.numpy()}
    assert val_rows <= train_rows and not val_rows & test_rows and not val_rows & fit_rows
    assert len(val_rows | fit_rows) == 4000
    other = load_data(DataSpec(source="mnist1d", preprocess=[]), seed=4)
    assert {r.tobytes() for r in other.x_val.numpy()} != val_rows


def test_subset_comes_after_val_and_preprocessing_is_fitted_on_that_train_split():
    spec = dict(source="spirals", val_fraction=0.2, options={"points": 50})
    full = load_data(DataSpec(**spec, preprocess=[]), seed=1)
    d = load_data(DataSpec(**spec, preprocess=["standardize"], subset=30), seed=1)
    raw_train = full.x_train[:30].double().numpy()
    mu, sd = raw_train.mean(0), raw_train.std(0)
    np.testing.assert_allclose(d.x_train.numpy(), (raw_train - mu) / sd, atol=1e-5)
    np.testing.assert_allclose(d.x_val.numpy(), (full.x_val.double().numpy() - mu) / sd, atol=1e-5)
    np.testing.assert_allclose(d.x_test.numpy(), (full.x_test.double().numpy() - mu) / sd, atol=1e-5)
    np.testing.assert_array_equal(d.y_val.numpy(), full.y_val.numpy())
    with pytest.raises(BadInput, match="exceeds the 120 training examples"):
        load_data(DataSpec(**spec, subset=121), seed=1)


def test_mnist1d_cache_is_written_atomically_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("BABYSITTER_CACHE", str(tmp_path))
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    first = SOURCES["mnist1d"](None, num_samples=100)
    assert np.random.rand() == expected_next  # the package's global seeding was undone
    assert [p.name for p in tmp_path.iterdir()] == ["mnist1d-seed42-n100.npz"]
    monkeypatch.setattr(sources, "_make_mnist1d", lambda *a: pytest.fail("regenerated despite the cache"))
    second = SOURCES["mnist1d"](None, num_samples=100)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first[0].shape == (80, 40) and first[2].shape == (20, 40)


def test_digits_split_and_scaling():
    from sklearn.datasets import load_digits

    x_tr, y_tr, x_te, y_te = SOURCES["digits"](None)
    assert x_tr.shape == (1438, 1, 8, 8) and x_te.shape == (359, 1, 8, 8)
    assert x_tr.min() == 0.0 and x_tr.max() == 1.0
    ref = load_digits()
    perm = np.random.default_rng(0).permutation(1797)
    np.testing.assert_allclose(x_te[:, 0] * 16, ref.images[perm[-359:]], atol=1e-5)
    np.testing.assert_array_equal(y_tr, ref.target[perm[:-359]])


def test_spirals_follow_the_cs231n_formula():
    x, y, x_test, y_test = SOURCES["spirals"](None, points=200, classes=3, noise=0.2, seed=5)
    assert x.shape == (600, 2) and x_test.shape == (600, 2)
    assert not np.allclose(x, x_test)
    np.testing.assert_array_equal(np.bincount(y), [200, 200, 200])
    for j in range(3):
        arm = x[y == j].astype(np.float64)
        np.testing.assert_allclose(np.hypot(arm[:, 0], arm[:, 1]), np.linspace(0, 1, 200), atol=1e-6)
        angle = np.arctan2(arm[1:, 0], arm[1:, 1])  # x = (r sin t, r cos t); r = 0 at index 0
        residual = np.angle(np.exp(1j * (angle - np.linspace(j * 4, (j + 1) * 4, 200)[1:])))
        assert abs(residual.std() - 0.2) < 0.04 and abs(residual.mean()) < 0.05


def test_cache_dir_follows_babysitter_cache_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("BABYSITTER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sources.cache_dir() == tmp_path / "xdg" / "babysitter"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sources.cache_dir() == tmp_path / "home" / ".cache" / "babysitter"
    monkeypatch.setenv("BABYSITTER_CACHE", str(tmp_path / "own"))
    assert sources.cache_dir() == tmp_path / "own"
