"""EMA evaluation against its recursion; test-time augmentation against hand-made views."""

import copy

import torch

from babysitter.data.augment import TestTimeAugment
from babysitter.spec import load_spec
from babysitter.train.events import Callback
from babysitter.train.run import build
from babysitter.train.trainer import Trainer

SPEC = {"data": {"source": "digits", "subset": 200}, "model": {"kind": "cnn", "hidden": [8], "convs": 1},
        "train": {"epochs": 2, "batch_size": 32, "threads": 1, "ema": 0.9}, "doctor": {"enabled": False}}


class Record(Callback):
    def __init__(self):
        self.states = []

    def after_step(self, trainer):
        self.states.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})


def test_ema_evaluation_equals_the_recursion():
    spec = load_spec(SPEC)
    model, data = build(spec)
    rec = Record()
    trainer = Trainer(model, data, spec, callbacks=[rec], progress=False)
    final = trainer.fit()
    d, ema = 0.9, None
    for w in rec.states:   # e_1 = w_1, e_t = d e_(t-1) + (1 - d) w_t, on weights and BN statistics
        ema = {k: v.double() for k, v in w.items()} if ema is None else \
              {k: d * ema[k] + (1 - d) * w[k].double() for k in w}
    got = trainer.eval_model.state_dict()
    for k, v in ema.items():
        if got[k].is_floating_point():
            torch.testing.assert_close(got[k].double(), v, atol=1e-5, rtol=1e-5)
    # evaluation (val, test) runs on the average, not the last weights
    assert final["test_acc"] == trainer.evaluate(data.x_test, data.y_test, trainer.eval_model)[1]
    assert trainer.eval_model is not trainer.model


def test_tta_averages_the_logits_of_the_flipped_and_shifted_views():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 5, 3))
    x = torch.randn(6, 2, 4, 5)
    tta = TestTimeAugment(["flip", "shift:1"])
    shifted = lambda v, s: torch.roll(v, s, -1) * (torch.arange(5) - s >= 0) * (torch.arange(5) - s < 5)  # noqa: E731
    views = [x, x.flip(-1)]
    views += [shifted(v, s) for v in views for s in (-1, 1)]
    want = torch.stack([model(v) for v in views]).mean(0)
    torch.testing.assert_close(tta(model, x), want)
    assert len(tta.views(x)) == 6


def test_tta_in_the_trainer_changes_eval_only():
    spec = load_spec({**SPEC, "data": {**SPEC["data"]}, "train": {**SPEC["train"], "ema": None, "tta": ["flip"],
                                                                    "epochs": 1}})
    model, data = build(spec)
    trainer = Trainer(model, data, spec, progress=False)
    trainer.fit()
    m = copy.deepcopy(trainer.model).eval()
    with torch.no_grad():
        logits = (m(data.x_test) + m(data.x_test.flip(-1))) / 2
    acc = (logits.argmax(1) == data.y_test).sum().item() / len(data.y_test)
    assert abs(trainer.evaluate(data.x_test, data.y_test)[1] - acc) < 1e-9


def test_tta_flip_on_sequences_is_refused_before_training(tmp_path):
    import pytest

    from babysitter.errors import BadInput
    from babysitter.train.run import train
    with pytest.raises(BadInput, match="tta flip: needs images"):
        train({"data": {"source": "mnist1d", "subset": 100}, "train": {"tta": ["flip"]}}, tmp_path / "run")
    assert not (tmp_path / "run").exists()
