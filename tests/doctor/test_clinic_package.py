"""The public clinic as package data: its cases, --only, and an older spec's `clinic.models` factory."""

import importlib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from babysitter.doctor.clinic import PUBLIC, cases
from tests.conftest import run_main


def test_public_clinic_is_inside_the_package():
    package = Path(importlib.import_module("babysitter").__file__).resolve().parent
    assert PUBLIC.resolve() == package / "clinic"
    assert {"faulty", "healthy", "scripts"} <= {p.name for p in PUBLIC.iterdir()}


def test_only_selects_by_file_name():
    every = [p.name for d in ("faulty", "healthy") for p in sorted((PUBLIC / d).glob("*.yaml"))] + \
            [p.name for p in sorted((PUBLIC / "scripts").glob("*.py"))]
    want = [n for n in every if fnmatch(n, "lr_too_high--*") or fnmatch(n, "healthy--iris*")]
    assert len(want) >= 4
    assert [c["path"].name for c in cases(PUBLIC, ["lr_too_high--*", "healthy--iris*"])] == want
    assert all(c["expect"] in ("lr_too_high", None) for c in cases(PUBLIC, ["lr_too_high--*", "healthy--iris*"]))


def test_only_matching_nothing_is_bad_input(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "clinic", "--only", "no_such_fault--*", "--json")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no_such_fault--*" in err


@pytest.mark.parametrize("factory", ["clinic.models:raw_parameter_net", "babysitter.clinic.models:raw_parameter_net"])
def test_old_and_new_factory_names_build_the_same_model(factory, tmp_path, monkeypatch):
    from babysitter.clinic.models import RawParameterNet
    from babysitter.nn.models import build_python
    from babysitter.spec import load_spec

    monkeypatch.chdir(tmp_path)            # no `clinic` package of the user's own here
    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "python", "factory": factory}})
    model = build_python(spec.model, (64,), 10)
    assert type(model) is RawParameterNet
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in RawParameterNet(64, 10).parameters())
