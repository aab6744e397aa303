"""Damaged and odd input files (0 bytes, cut short, strings, objects, pickles) are exit 2 in one line
naming the file, for every verb that reads them; export writes DIR/model.<ext> for a folder, follows
the umask and keeps a replaced file's mode; an independent ensemble predicts and exports as the
members' averaged softmax, the number final.json's test accuracy was measured on."""

import json
import os
import pickle
import stat

import numpy as np
import pytest
import torch

from tests.conftest import run_main
from tests.datafiles import digits_arrays
from tests.hostile.promise import TINY, refused


def damaged(tmp_path) -> dict:
    """name -> a file that is no usable .npz, each made the way users end up with one."""
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    y = np.arange(60) % 3
    good = tmp_path / "good.npz"
    np.savez(good, x=x, y=y)
    files = {"empty": b"", "cut short": good.read_bytes()[: good.stat().st_size // 2],
             "a pickle": pickle.dumps({"x": x, "y": y}), "text": b"x,y\n1,2\n"}
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name.replace(' ', '_')}.npz"
        paths[name].write_bytes(data)
    paths["strings"] = tmp_path / "strings.npz"
    np.savez(paths["strings"], x=np.array([["a", "b", "c", "d"]] * 60), y=y)
    paths["objects"] = tmp_path / "objects.npz"
    np.savez(paths["objects"], x=np.array([{"a": 1}] * 60, dtype=object), y=y)
    paths["string labels"] = tmp_path / "labels.npz"
    np.savez(paths["string labels"], x=x, y=np.array(["cat", "dog", "emu"] * 20))
    return paths


def test_train_search_and_transfer_refuse_a_damaged_npz_naming_it(tmp_path, monkeypatch, capsys, write_spec, run_copy):
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {low: 0.01, high: 0.1, log: true}\n")
    for name, path in damaged(tmp_path).items():
        spec = write_spec({**TINY, "data": {"source": "npz", "path": str(path)}}, f"{path.stem}.yaml")
        for verb in (["train", spec, "--out", tmp_path / "never"],
                     ["search", spec, "--space", space, "--trials", "1", "--storage", tmp_path / "j.log",
                      "--out", tmp_path / "never"],
                     ["transfer", spec, "--from", run_copy, "--strategy", "linear_probe", "--out", tmp_path / "never"]):
            code, out, err = run_main(monkeypatch, capsys, *verb, "--quiet")
            refused(code, out, err)
            assert str(path) in err, (name, verb[0], err)
            assert not (tmp_path / "never").exists()


def test_transfer_refuses_a_damaged_source_checkpoint(tmp_path, monkeypatch, capsys, tiny_spec, run_copy):
    good = (run_copy / "checkpoints" / "last.pt").read_bytes()

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    for name, data in (("empty", b""), ("cut", good[: len(good) // 3]), ("evil", pickle.dumps(Evil())),
                       ("zip", b"PK\x03\x04" + bytes(26))):
        ck = tmp_path / f"{name}.pt"
        ck.write_bytes(data)
        code, out, err = run_main(monkeypatch, capsys, "transfer", tiny_spec, "--from", ck, "--strategy",
                                  "linear_probe", "--out", tmp_path / "never", "--quiet")
        refused(code, out, err)
        assert str(ck) in err, (name, err)


def test_predict_refuses_a_damaged_input_naming_it(tmp_path, monkeypatch, capsys, run_copy):
    for name, path in damaged(tmp_path).items():
        if name == "string labels":
            continue  # predict reads x (and y only as labels: covered below)
        code, out, err = run_main(monkeypatch, capsys, "predict", run_copy, "--input", path, "--json")
        refused(code, out, err)
        assert str(path) in err, (name, err)
    for name, data in (("empty", None), ("strings", np.array(["a"] * 64).reshape(1, 64)),
                       ("scalar", np.float32(3.0))):
        path = tmp_path / f"{name}.npy"
        path.write_bytes(b"") if data is None else np.save(path, data)
        code, out, err = run_main(monkeypatch, capsys, "predict", run_copy, "--input", path, "--json")
        refused(code, out, err)
        assert str(path) in err, (name, err)


def test_export_out_folder_umask_and_force_keeps_the_mode(tmp_path, monkeypatch, capsys, run_copy):
    folder = tmp_path / "models"
    folder.mkdir()
    old = os.umask(0o027)
    try:
        code, out, err = run_main(monkeypatch, capsys, "export", run_copy, "--format", "torchscript",
                                  "--out", folder, "--json")
        assert code in (0, None), err
        file = folder / "model.torchscript.pt"
        assert json.loads(out)["model"] == str(file)
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~0o027           # 0640, as open() would give
        assert torch.jit.load(str(file)) is not None
        assert os.listdir(folder) == ["model.torchscript.pt"]               # no temp file left
        # again without --force: refused in one line, the file kept
        before = file.read_bytes()
        code, out, err = run_main(monkeypatch, capsys, "export", run_copy, "--format", "torchscript", "--out", folder)
        refused(code, out, err)
        assert "--force" in err and ".tmp" not in err and file.read_bytes() == before
        # --force replaces it and keeps the user's own mode
        file.chmod(0o604)
        code, out, err = run_main(monkeypatch, capsys, "export", run_copy, "--format", "torchscript",
                                  "--out", folder, "--force", "--quiet")
        assert code in (0, None), err
        assert stat.S_IMODE(file.stat().st_mode) == 0o604
        # a folder where the model file would go is refused in one line
        (tmp_path / "m2" / "model.onnx").mkdir(parents=True)
        code, out, err = run_main(monkeypatch, capsys, "export", run_copy, "--out", tmp_path / "m2", "--force")
        refused(code, out, err)
        assert "is a folder" in err and ".tmp" not in err
    finally:
        os.umask(old)


def test_predict_csv_follows_the_umask(tmp_path, monkeypatch, capsys, run_copy):
    x_train, y_train, x_test, y_test = digits_arrays()
    data = tmp_path / "in.npz"
    np.savez(data, x=(x_test.reshape(-1, 1, 8, 8) / 15).astype(np.float32))  # the digits source's shape
    old = os.umask(0o022)
    try:
        code, _, err = run_main(monkeypatch, capsys, "predict", run_copy, "--input", data, "--out", tmp_path / "p.csv",
                                "--quiet")
    finally:
        os.umask(old)
    assert code in (0, None), err
    assert stat.S_IMODE((tmp_path / "p.csv").stat().st_mode) == 0o644


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """An independent ensemble of 3 MLPs on digits as raw pixel counts (an .npz with its test split)."""
    from babysitter.train import run

    tmp = tmp_path_factory.mktemp("ens")
    x_train, y_train, x_test, y_test = digits_arrays()
    flat = lambda a: (a.reshape(len(a), -1) / 15).astype(np.float32)  # noqa: E731
    data = tmp / "digits.npz"
    np.savez(data, x=flat(x_train), y=y_train, x_test=flat(x_test), y_test=y_test)
    test = tmp / "test.npz"
    np.savez(test, x=flat(x_test), y=y_test)
    spec = {"data": {"source": "npz", "path": str(data)}, "model": {"kind": "mlp", "hidden": [16]},
            "optim": {"name": "adam", "lr": 0.01}, "schedule": {"name": "constant"}, "doctor": {"enabled": False},
            "train": {"epochs": 1, "batch_size": 64, "ensemble": {"kind": "independent", "members": 3}}}
    out = tmp / "run"
    run.train(spec, out, progress=False)
    return out, json.loads((out / "final.json").read_text()), test, flat(x_test), y_test


def test_an_independent_ensemble_predicts_its_final_test_accuracy(ensemble_run, monkeypatch, capsys):
    out, final, test, x_test, y_test = ensemble_run
    code, stdout, err = run_main(monkeypatch, capsys, "predict", out, "--input", test, "--json")
    assert code in (0, None), err
    # the same count of correct examples (final.json's mean is float32, predict's a Python float)
    assert final["test_acc"] == final["ensemble_test_acc"]
    assert round(json.loads(stdout)["accuracy"] * len(y_test)) == round(final["test_acc"] * len(y_test))
    # independently: each member's checkpoint and preprocess.pt applied by hand, softmaxes averaged
    from babysitter.nn.models import build_model
    from babysitter.spec import load_spec

    spec = load_spec(out / "spec.yaml")
    pre = torch.load(out / "preprocess.pt", weights_only=True)
    z = (torch.from_numpy(x_test) - pre["0.mean"]) / pre["0.std"]
    probs = []
    for m in (1, 2, 3):
        model = build_model(spec.model, (64,), 10)
        model.load_state_dict(torch.load(out / "members" / str(m) / "checkpoints" / "last.pt", weights_only=True)["model"])
        with torch.no_grad():
            probs.append(torch.softmax(model.eval()(z), 1).numpy())
    expected = np.mean(probs, axis=0)
    import babysitter

    np.testing.assert_allclose(babysitter.load(out).predict_proba(x_test), expected, atol=1e-6)
    assert (expected.argmax(1) == y_test).sum() == round(final["test_acc"] * len(y_test))
    # members differ: the ensemble is not one member passed off as three
    assert max(np.abs(probs[0] - probs[1]).max(), np.abs(probs[1] - probs[2]).max()) > 1e-3


def test_an_independent_ensemble_exports(ensemble_run, monkeypatch, capsys, tmp_path):
    import onnxruntime as ort

    out, final, test, x_test, y_test = ensemble_run
    code, stdout, err = run_main(monkeypatch, capsys, "export", out, "--out", tmp_path, "--json")
    assert code in (0, None), err
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    scores = session.run(["scores"], {"x": x_test})[0]
    proba = torch.softmax(torch.from_numpy(scores), 1).numpy()
    import babysitter

    np.testing.assert_allclose(proba, babysitter.load(out).predict_proba(x_test), atol=1e-5)
    assert (scores.argmax(1) == y_test).sum() == round(final["test_acc"] * len(y_test))

