"""Ensembles against independent computations: numpy softmax averages, a hand-kept EMA, SGDR restarts."""

import numpy as np
import torch
from torch import nn

from babysitter.spec import load_spec
from babysitter.train.ensemble import Polyak, Snapshot, average_softmax, ensemble_report
from babysitter.train.events import Callback
from babysitter.train.run import build
from babysitter.train.trainer import Trainer


def test_average_softmax_equals_numpy():
    torch.manual_seed(0)
    models = [nn.Linear(5, 4) for _ in range(3)]
    x = torch.randn(20, 5)
    got = average_softmax(models, x, "cpu", batch_size=7).numpy()
    logits = [(x @ m.weight.T + m.bias).detach().numpy() for m in models]
    soft = [np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True) for z in logits]
    np.testing.assert_allclose(got, np.mean(soft, 0), rtol=1e-5, atol=1e-7)


def test_ensemble_report_accuracy_is_the_argmax_of_the_mean():
    torch.manual_seed(1)
    models = [("a", nn.Linear(3, 2)), ("b", nn.Linear(3, 2))]
    data = type("D", (), {"x_test": torch.randn(50, 3), "y_test": torch.randint(0, 2, (50,))})
    rep = ensemble_report(models, data, "cpu")
    probs = sum(torch.softmax(m(data.x_test), 1) for _, m in models) / 2
    assert rep["ensemble_test_acc"] == (probs.argmax(1) == data.y_test).float().mean().item()
    assert [r["test_acc"] for r in rep["members"]] == [
        (m(data.x_test).argmax(1) == data.y_test).float().mean().item() for _, m in models]


class Recorder(Callback):
    def __init__(self):
        self.params, self.lrs, self.epoch_weights = [], [], {}

    def after_step(self, trainer):
        self.params.append([p.detach().clone() for p in trainer.model.parameters()])
        self.lrs.append(trainer.optimizer.param_groups[0]["lr"])

    def after_epoch(self, trainer):
        self.epoch_weights[trainer.epoch] = {k: v.clone() for k, v in trainer.model.state_dict().items()}


def _trainer(ensemble, epochs=4, **extra):
    spec = load_spec({"data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16], "norm": "none"},
                      "train": {"epochs": epochs, "batch_size": 256, "ensemble": ensemble}, **extra})
    model, data = build(spec)
    return spec, model, data


def test_polyak_is_the_exponential_moving_average_of_the_weights():
    spec, model, data = _trainer({"kind": "polyak", "decay": 0.9}, epochs=2)
    rec, pol = Recorder(), Polyak(0.9)
    Trainer(model, data, spec, callbacks=[rec, pol], progress=False).fit()
    ema = [p.clone() for p in rec.params[0]]          # torch's EMA starts from the first averaged weights
    for step in rec.params[1:]:
        ema = [0.9 * e + 0.1 * p for e, p in zip(ema, step)]
    for e, p in zip(ema, pol.ema.module.parameters()):
        assert torch.allclose(e, p, atol=1e-6)


def test_snapshots_are_taken_at_each_sgdr_restart():
    spec, model, data = _trainer({"kind": "snapshot", "cycles": 2}, epochs=4, optim={"lr": 0.1},
                                 schedule={"name": "cosine", "unit": "step"})
    assert spec.schedule.name == "sgdr"  # the snapshot ensemble's schedule
    rec, snap = Recorder(), Snapshot(2, 4)
    trainer = Trainer(model, data, spec, callbacks=[rec, snap], progress=False)
    trainer.fit()
    steps = trainer.steps_per_epoch
    cycle = 2 * steps
    # lr of step t (0-based, read after the step was taken, i.e. the schedule at t+1): cosine over a cycle
    expected = [0.1 * (1 + np.cos(np.pi * ((t + 1) % cycle) / cycle)) / 2 for t in range(len(rec.lrs))]
    np.testing.assert_allclose(rec.lrs, expected, rtol=1e-6, atol=1e-9)
    assert len(snap.snapshots) == 2
    for i, state in enumerate(snap.snapshots, 1):
        for k in state:
            assert torch.equal(state[k], rec.epoch_weights[2 * i][k])


def test_last_m_is_chosen_on_validation():
    from babysitter.train.ensemble import last_m_on_validation

    torch.manual_seed(2)
    x = torch.randn(200, 4)
    y = (x[:, 0] > 0).long()
    good = nn.Linear(4, 2)
    with torch.no_grad():
        good.weight.copy_(torch.tensor([[-5.0, 0, 0, 0], [5.0, 0, 0, 0]]))
        good.bias.zero_()
    bad = nn.Linear(4, 2)
    with torch.no_grad():
        bad.weight.copy_(-20 * good.weight)  # confidently wrong
        bad.bias.zero_()
    data = type("D", (), {"x_val": x, "y_val": y})
    assert last_m_on_validation([bad, good], data, "cpu") == 1      # the bad early member is left out
    assert last_m_on_validation([good, good], data, "cpu") == 2     # ties go to more members
