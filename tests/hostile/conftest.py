"""Fixtures of the hostile-input suite: a tiny spec file and one trained run dir copied per test."""

import shutil

import pytest
import yaml

from tests.hostile.promise import TINY


@pytest.fixture
def tiny_spec(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(TINY))
    return p


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run dir trained once per module (1 epoch of digits, with the doctor's instruments, as
    ``babysit train`` does); tests copy it with ``run_copy``."""
    from babysitter.doctor.spec_run import monitors
    from babysitter.spec import load_spec
    from babysitter.train import run

    out = tmp_path_factory.mktemp("trained") / "run"
    spec = load_spec(TINY)
    run.train(spec, out, progress=False, callbacks=monitors(spec, out))
    return out


@pytest.fixture
def run_copy(trained, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(trained, dest, ignore=shutil.ignore_patterns(".babysitter.lock"))
    return dest
