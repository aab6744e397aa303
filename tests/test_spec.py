"""The run-spec contract: defaults, and one-line errors that name the key and list valid values."""

import pytest

from babysitter.errors import BadInput
from babysitter.spec import load_spec, override


def test_only_source_is_a_complete_spec_with_the_lecture_recipe():
    spec = load_spec({"data": {"source": "mnist1d"}})
    assert (spec.model.kind, spec.model.init, spec.model.norm) == ("cnn", "he", "batch")
    assert (spec.optim.name, spec.schedule.name, spec.schedule.unit) == ("nesterov", "onecycle", "step")


def test_builtin_default_uses_shift_augmentation():
    spec = load_spec(None)
    assert spec.data.source == "mnist1d"
    assert any(a.startswith("shift:") for a in spec.data.augment)


@pytest.mark.parametrize("raw, words", [
    ({"data": {"source": "mnist1d"}, "optim": {"lrr": 0.1}}, ["optim.lrr", "lr", "momentum"]),
    ({"data": {"source": "mnist1d"}, "bogus": 1}, ["bogus", "optim", "schedule"]),
    ({"data": {"source": "mnist1d"}, "model": {"activation": "relux"}}, ["relux", "relu", "maxout"]),
    ({"data": {"source": "mnist2d"}}, ["mnist2d", "mnist1d", "digits"]),
    ({"data": {"source": "mnist1d"}, "optim": {"name": "adamw2"}}, ["adamw2", "nesterov", "adam"]),
    ({"data": {"source": "mnist1d"}, "optim": {"lr": -1}}, ["optim.lr", "-1"]),
    ({"data": {"source": "mnist1d"}, "train": {"batch_size": 0}}, ["train.batch_size"]),
    ({"data": {"source": "mnist1d"}, "train": {"epochs": "many"}}, ["train.epochs"]),
    ({"model": {"kind": "mlp"}}, ["data"]),
])
def test_bad_spec_is_one_line_naming_the_key(raw, words):
    with pytest.raises(BadInput) as e:
        load_spec(raw)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_broken_yaml_reports_the_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("data:\n  source: mnist1d\n optim: [\n")
    with pytest.raises(BadInput, match="line 3"):
        load_spec(p)


def test_override_validates_again():
    spec = load_spec({"data": {"source": "digits"}})
    assert override(spec, **{"optim.lr": 0.01}).optim.lr == 0.01
    with pytest.raises(BadInput, match="optim.nope"):
        override(spec, **{"optim.nope": 1})
    with pytest.raises(BadInput, match="optim.lr"):
        override(spec, **{"optim.lr": 0})
