"""babysitter.load / babysit predict / babysit export on real trained runs (digits as .npz, digits as
PNG class folders, iris as CSV); ONNX checked in onnxruntime, TorchScript with torch.jit.load."""

import json

import numpy as np
import pytest
import torch
import yaml

import babysitter
from tests.conftest import run_main
from tests.datafiles import IRIS_NAMES, digits_arrays, write_digits_pngs, write_iris_csv

FAST = {"optim": {"name": "adam", "lr": 3e-3, "weight_decay": 0.0}, "schedule": {"name": "constant"},
        "doctor": {"enabled": False}}


def _train(tmp, name, spec):
    out = tmp / name
    babysitter.fit({"name": name, **FAST, **spec}, out, progress=False)
    return out, json.loads((out / "final.json").read_text())


@pytest.fixture(scope="module")
def npz_run(tmp_path_factory):
    """An MLP with batch norm on digits as raw (N, 64) pixel counts 0..16 in an .npz with a test split."""
    tmp = tmp_path_factory.mktemp("npz")
    x_train, y_train, x_test, y_test = digits_arrays()
    flat = lambda a: (a.reshape(len(a), -1) / 15).astype(np.float32)  # noqa: E731  back to counts 0..16
    data = tmp / "digits.npz"
    np.savez(data, x=flat(x_train), y=y_train, x_test=flat(x_test), y_test=y_test)
    test = tmp / "test.npz"
    np.savez(test, x=flat(x_test), y=y_test)
    out, final = _train(tmp, "npz-run", {"data": {"source": "npz", "path": str(data)},
                                         "model": {"kind": "mlp", "hidden": [32]}, "train": {"epochs": 3, "batch_size": 64}})
    return out, final, test, flat(x_test), y_test


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A CNN (conv -> batch norm -> relu) on digits written as PNG files in train/test class folders."""
    tmp = tmp_path_factory.mktemp("img")
    write_digits_pngs(tmp / "digits")
    out, final = _train(tmp, "img-run", {"data": {"source": "imagefolder", "path": str(tmp / "digits")},
                                         "model": {"kind": "cnn", "hidden": [16, 32], "convs": 1},
                                         "train": {"epochs": 6, "batch_size": 32}})
    return out, final, tmp / "digits" / "test"


def test_predict_npz_gives_final_test_accuracy(npz_run, monkeypatch, capsys, tmp_path):
    out, final, test, x_test, y_test = npz_run
    code, stdout, err = run_main(monkeypatch, capsys, "predict", out, "--input", test, "--json")
    assert code in (0, None), err
    result = json.loads(stdout)
    assert result["accuracy"] == final["test_acc"]          # exactly: same arrays, same arithmetic
    assert len(result["predictions"]) == len(y_test) == 359
    # independent: the checkpoint's weights and preprocess.pt's statistics applied by hand
    from babysitter.nn.models import build_model
    from babysitter.spec import load_spec

    spec = load_spec(out / "spec.yaml")
    pre = torch.load(out / "preprocess.pt", weights_only=True)
    assert pre["steps"] == ["standardize"]
    z = (torch.from_numpy(x_test) - pre["0.mean"]) / pre["0.std"]
    model = build_model(spec.model, (64,), 10)
    model.load_state_dict(torch.load(out / "checkpoints" / "last.pt", weights_only=True)["model"])
    with torch.no_grad():
        expected = torch.softmax(model.eval()(z), 1).numpy()
    p = babysitter.load(out)
    np.testing.assert_allclose(p.predict_proba(x_test), expected, atol=1e-6)
    assert [r["class"] for r in result["predictions"]] == expected.argmax(1).tolist()
    np.testing.assert_allclose([r["probability"] for r in result["predictions"]], expected.max(1), atol=1e-6)
    assert (p.predict(x_test) == y_test).mean() == final["test_acc"]
    # --out writes the rows; an existing file is bad input and stays as it was
    csv_out = tmp_path / "preds.csv"
    code, _, err = run_main(monkeypatch, capsys, "predict", out, "--input", test, "--out", csv_out, "--quiet")
    assert code in (0, None), err
    lines = csv_out.read_text().splitlines()
    assert lines[0] == "id,class,probability" and len(lines) == 360 and lines[1].split(",")[1] == str(int(expected[0].argmax()))
    before = csv_out.read_bytes()
    code, stdout, err = run_main(monkeypatch, capsys, "predict", out, "--input", test, "--out", csv_out)
    assert code == 2 and "exists" in err and "Traceback" not in err and csv_out.read_bytes() == before


def test_export_onnx_matches_predict_proba(npz_run, image_run, monkeypatch, capsys, tmp_path):
    import onnxruntime as ort

    for out, x in ((npz_run[0], npz_run[3]), (image_run[0], None)):
        p = babysitter.load(out)
        if x is None:
            x = p.as_tensor(sorted(image_run[2].glob("d3/*.png"))[:7] + sorted(image_run[2].glob("d8/*.png"))[:5]).numpy()
        file = tmp_path / f"{out.name}.onnx"
        code, stdout, err = run_main(monkeypatch, capsys, "export", out, "--format", "onnx", "--out", file, "--json")
        assert code in (0, None), err
        assert json.loads(stdout) == {"model": str(file), "format": "onnx"}
        session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
        scores = session.run(["scores"], {"x": x.astype(np.float32)})[0]
        proba = torch.softmax(torch.from_numpy(scores), 1).numpy()
        np.testing.assert_allclose(proba, p.predict_proba(x), atol=1e-4)
        one = session.run(["scores"], {"x": x[:1].astype(np.float32)})[0]  # the batch axis is dynamic
        assert one.shape == (1, p.num_classes)
    # the folded graph has no BatchNormalization left
    import onnx

    graph = onnx.load(str(tmp_path / f"{image_run[0].name}.onnx")).graph
    assert not [n for n in graph.node if n.op_type == "BatchNormalization"]


def test_export_torchscript_matches_scores(image_run, monkeypatch, capsys, tmp_path):
    out, _, test = image_run
    file = tmp_path / "m.pt"
    code, _, err = run_main(monkeypatch, capsys, "export", out, "--format", "torchscript", "--out", file, "--quiet")
    assert code in (0, None), err
    p = babysitter.load(out)
    x = p.as_tensor(sorted(test.glob("d1/*.png"))[:9])
    np.testing.assert_allclose(torch.jit.load(str(file))(x).detach().numpy(), p.scores(x).numpy(), atol=1e-4)
    code, _, err = run_main(monkeypatch, capsys, "export", out, "--format", "keras")
    assert code == 2 and "unknown format 'keras'; valid: onnx, torchscript" in err


def test_imagefolder_run_and_predict_on_folders(image_run, monkeypatch, capsys):
    out, final, test = image_run
    assert final["test_acc"] >= 0.9
    code, stdout, err = run_main(monkeypatch, capsys, "predict", out, "--input", test, "--json")
    assert code in (0, None), err
    result = json.loads(stdout)
    assert result["accuracy"] == final["test_acc"]
    first = result["predictions"][0]
    assert first["id"] == "d0/0000.png" or first["id"].startswith("d0/")
    assert first["class"] in [f"d{k}" for k in range(10)]
    one = sorted((test / "d7").glob("*.png"))[0]
    code, stdout, err = run_main(monkeypatch, capsys, "predict", out, "--input", one, "--json")
    assert code in (0, None) and json.loads(stdout)["accuracy"] is None
    assert json.loads(stdout)["predictions"][0]["id"] == one.name
    code, _, err = run_main(monkeypatch, capsys, "predict", out, "--input", out / "spec.yaml")
    assert code == 2 and "cannot read" in err and "Traceback" not in err


def test_csv_run_reaches_085_and_predicts_names(tmp_path, monkeypatch, capsys):
    f = tmp_path / "iris.csv"
    write_iris_csv(f)
    spec = yaml.safe_load(open("examples/iris-csv.yaml"))
    spec["data"]["path"] = str(f)
    spec["doctor"] = {"enabled": False}
    out = tmp_path / "iris-run"
    babysitter.fit(spec, out, progress=False)
    final = json.loads((out / "final.json").read_text())
    assert final["test_acc"] >= 0.85
    assert json.loads((out / "data.json").read_text())["class_names"] == IRIS_NAMES
    new = tmp_path / "new.csv"
    x, species = write_iris_csv(new, rows=slice(0, 12))
    code, stdout, err = run_main(monkeypatch, capsys, "predict", out, "--input", new, "--json")
    assert code in (0, None), err
    result = json.loads(stdout)
    p = babysitter.load(out)
    expected = [IRIS_NAMES[k] for k in p.predict(x.astype(np.float32))]
    assert [r["class"] for r in result["predictions"]] == expected
    assert result["accuracy"] == np.mean([e == s for e, s in zip(expected, species)])


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys, write_spec):
    code, _, err = run_main(monkeypatch, capsys, "predict", tmp_path, "--input", tmp_path)
    assert code == 2 and err.strip().count("\n") == 0 and "is not a run dir: no spec.yaml" in err
    write_digits_pngs(tmp_path / "img", limit=100)
    (tmp_path / "img" / "train" / "empty").mkdir()
    spec = write_spec({"data": {"source": "imagefolder", "path": str(tmp_path / "img")}})
    code, _, err = run_main(monkeypatch, capsys, "train", spec, "--out", tmp_path / "run")
    assert code == 2 and "class folder" in err and "empty holds no images" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n1,x,u\n2,3,v\n")
    spec = write_spec({"data": {"source": "csv", "path": str(table), "options": {"target": "y"}}})
    code, _, err = run_main(monkeypatch, capsys, "train", spec, "--out", tmp_path / "run")
    assert code == 2 and "column 'b' is not numeric" in err and not (tmp_path / "run").exists()
