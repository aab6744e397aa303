"""train.threads: auto times each candidate count and keeps one; results do not depend on it."""

import torch

from babysitter.spec import load_spec
from babysitter.train.run import build
from babysitter.train.trainer import Trainer

SPEC = {"data": {"source": "digits", "subset": 400}, "model": {"kind": "mlp", "hidden": [32]},
        "train": {"epochs": 2, "batch_size": 16}, "doctor": {"enabled": False}}


def fit(threads, start_threads=2):
    spec = load_spec({**SPEC, "train": {**SPEC["train"], "threads": threads}})
    model, data = build(spec)
    torch.set_num_threads(start_threads)  # what torch would start with on a 2-CPU machine
    trainer = Trainer(model, data, spec, progress=False)
    final = trainer.fit()
    return trainer, final


def test_auto_picks_one_of_the_candidates_and_reports_it():
    trainer, final = fit("auto")
    tuner = trainer.threads
    assert tuner.candidates == [1, 2]
    assert tuner.choices, "a probe must have finished within 2 epochs of 22 steps"
    first = tuner.choices[0]
    assert set(first["step_seconds"]) == {1, 2}
    assert first["threads"] == min(first["step_seconds"], key=first["step_seconds"].get)
    assert final["threads"] in (1, 2) and final["threads"] == torch.get_num_threads()


def test_auto_never_raises_a_count_the_user_set():
    trainer, final = fit("auto", start_threads=1)
    assert trainer.threads.candidates == [1] and trainer.threads.choices == [] and final["threads"] == 1


def test_weights_do_not_depend_on_the_thread_count():
    states = [fit(n)[0].model.state_dict() for n in (1, 2, "auto")]
    for other in states[1:]:
        for k, v in states[0].items():
            if v.is_floating_point():
                torch.testing.assert_close(other[k], v, atol=1e-5, rtol=1e-5)
            else:
                assert torch.equal(other[k], v)


def test_a_forced_count_is_used_and_tunes_nothing():
    trainer, final = fit(1)
    assert trainer.threads is None and final["threads"] == 1
