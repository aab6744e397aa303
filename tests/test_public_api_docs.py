"""help() on the public API says every argument: watch, fit, load, the Lightning Doctor and the
Hugging Face DoctorCallback."""

import inspect

import pytest

import babysitter


def documented(fn) -> list[str]:
    """The parameters of ``fn`` its docstring does not name as ``name:``."""
    doc = inspect.getdoc(fn) or ""
    params = [p for p in inspect.signature(fn).parameters if p not in ("self", "args", "kwargs")]
    return [p for p in params if f"{p}:" not in doc]


@pytest.mark.parametrize("name", ["watch", "fit", "load"])
def test_top_level_functions(name):
    fn = getattr(babysitter, name)
    assert len(inspect.signature(fn).parameters) >= 3
    assert documented(fn) == []


def test_callbacks():
    pytest.importorskip("pytorch_lightning")
    pytest.importorskip("transformers")
    from babysitter.integrations.lightning import Doctor
    from babysitter.integrations.transformers import DoctorCallback

    for cls in (Doctor, DoctorCallback):
        missing = [p for p in inspect.signature(cls.__init__).parameters if p != "self"
                   and f"{p}:" not in (inspect.getdoc(cls) or "")]
        assert missing == [], cls
