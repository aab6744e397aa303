"""The imagefolder and csv sources on real data written as files (digits PNGs, iris CSV)."""

import numpy as np
import pytest
from PIL import Image

from babysitter.data.images import imagefolder
from babysitter.data.tables import csv
from babysitter.data.sources import load_data
from babysitter.errors import BadInput
from babysitter.spec import DataSpec
from tests.datafiles import IRIS_NAMES, write_digits_pngs, write_iris_csv


def test_imagefolder_reads_pixels_and_class_ids(tmp_path):
    x_train, y_train, x_test, y_test = write_digits_pngs(tmp_path, limit=60)
    xt, yt, xs, ys, meta = imagefolder(str(tmp_path))
    # files are read class folder by class folder (d0..d9), each sorted by name
    order = np.lexsort((np.arange(60), y_train))
    assert meta == {"class_names": [f"d{k}" for k in range(10)], "size": [8, 8], "channels": 1}
    np.testing.assert_array_equal(yt, y_train[order])
    np.testing.assert_array_equal(xt[:, 0], x_train[order].astype(np.float32) / np.float32(255))
    assert xt.shape == (60, 1, 8, 8) and xs.shape == (60, 1, 8, 8)
    np.testing.assert_array_equal(ys, np.sort(y_test))


def test_imagefolder_one_tree_is_split_and_resized(tmp_path):
    write_digits_pngs(tmp_path, split=False, limit=50)
    for png in (tmp_path / "d0").glob("*.png"):  # JPEG files count too (Pillow reads both)
        Image.open(png).save(png.with_suffix(".JPG"), format="JPEG")
        png.unlink()
    xt, yt, xs, ys, meta = imagefolder(str(tmp_path), size=[16, 12], channels=3, test_fraction=0.2)
    assert xt.shape == (40, 3, 16, 12) and xs.shape == (10, 3, 16, 12)
    # a gray image in RGB: three equal planes; train + test hold every image once
    np.testing.assert_array_equal(xt[:, 0], xt[:, 2])
    _, y_written, _, _ = write_digits_pngs(tmp_path / "again", split=False, limit=50)
    np.testing.assert_array_equal(np.bincount(np.concatenate([yt, ys]), minlength=10), np.bincount(y_written, minlength=10))


def test_imagefolder_bad_input_names_the_file(tmp_path):
    write_digits_pngs(tmp_path, limit=100)
    empty = tmp_path / "train" / "zz"
    empty.mkdir()
    with pytest.raises(BadInput, match=r"class folder .*zz holds no images"):
        imagefolder(str(tmp_path))
    empty.rmdir()
    broken = next((tmp_path / "train").glob("d*/*.png"))
    broken.write_bytes(b"not a png")
    with pytest.raises(BadInput, match=f"cannot read image {broken}"):
        imagefolder(str(tmp_path))
    Image.fromarray(np.zeros((9, 8), np.uint8), mode="L").save(broken)
    with pytest.raises(BadInput, match="is 9x8, the first image 8x8; set data.options.size"):
        imagefolder(str(tmp_path))


def test_csv_string_labels_sorted_and_split(tmp_path):
    f = tmp_path / "iris.csv"
    x, species = write_iris_csv(f)
    xt, yt, xs, ys, meta = csv(str(f), target="species")
    assert meta["class_names"] == IRIS_NAMES and meta["features"][0] == "sepal_length"
    tr = np.random.default_rng(0).permutation(150)  # the npz rule: last 20% test
    train, test = tr[:-30], tr[-30:]
    np.testing.assert_allclose(xt, x[train].astype(np.float32))
    assert [IRIS_NAMES[k] for k in yt] == [species[i] for i in train]
    assert [IRIS_NAMES[k] for k in ys] == [species[i] for i in test]
    data = load_data(DataSpec(source="csv", path=str(f), options={"target": "species"}), seed=0)
    assert data.meta["class_names"] == IRIS_NAMES and data.num_classes == 3 and len(data.x_test) == 30


def test_csv_test_path_numeric_labels_and_fillna(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("u,v,label\n1,2,10\n3,,2\n5,6,10\n")
    b.write_text("u,v,label\n7,8,2\n")
    xt, yt, xs, ys, meta = csv(str(a), target="label", test_path=str(b), fillna=-1)
    assert meta["class_names"] == ["2", "10"]  # numbers sort as numbers
    np.testing.assert_array_equal(xt, [[1, 2], [3, -1], [5, 6]])
    assert yt.tolist() == [1, 0, 1] and ys.tolist() == [0]
    with pytest.raises(BadInput, match=r"line 3: column 'v' is missing a value"):
        csv(str(a), target="label", test_path=str(b))


def test_csv_bad_input_names_the_column(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("u,name,label\n1,bob,a\n2,eve,b\n")
    with pytest.raises(BadInput, match=r"line 2: column 'name' is not numeric \('bob'\)"):
        csv(str(f), target="label")
    xt, yt, xs, ys, meta = csv(str(f), target="label", features=["u"], test_fraction=0.5)
    assert meta["features"] == ["u"]
    with pytest.raises(BadInput, match="data.options.target is required"):
        csv(str(f))
    with pytest.raises(BadInput, match="lacks column"):
        csv(str(f), target="label", features=["w"])


def test_a_table_gets_an_mlp_unless_the_spec_names_a_model():
    from babysitter.spec import load_spec

    assert load_spec({"data": {"source": "csv"}}).model.kind == "mlp"
    assert load_spec({"data": {"source": "csv"}, "model": {"kind": "linear"}}).model.kind == "linear"
    assert load_spec({"data": {"source": "imagefolder"}}).model.kind == "cnn"
