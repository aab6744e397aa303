"""DoctorCallback on a real transformers.Trainer: a 2-layer GPT-2 built from a config (no download),
a character language model on the Python stdlib's own source (argparse.py), a few dozen steps."""

import inspect
import json
import math
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from babysitter.integrations.transformers import DoctorCallback  # noqa: E402

T = 32


@pytest.fixture(scope="module")
def chars():
    import argparse

    text = inspect.getsource(argparse)
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(c) for c in text])
    n = 400
    return vocab, [{"input_ids": ids[i * T:(i + 1) * T], "labels": ids[i * T:(i + 1) * T]} for i in range(n)]


def train(chars, tmp_path, lr, callback=None, frozen=False, steps=60):
    vocab, data = chars
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = transformers.GPT2Config(vocab_size=len(vocab), n_positions=T, n_embd=32, n_layer=2, n_head=2)
    model = transformers.GPT2LMHeadModel(config)
    if frozen:
        model.requires_grad_(False)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "hf"), per_device_train_batch_size=16, max_steps=steps, learning_rate=lr,
        lr_scheduler_type="constant", logging_steps=5, report_to="none", save_strategy="no", use_cpu=True,
        seed=0, disable_tqdm=True, dataloader_num_workers=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data,
                                   callbacks=[callback] if callback else [])
    trainer.train()
    return trainer


def test_healthy_run_is_healthy_and_the_trainer_computes_the_same(chars, tmp_path):
    plain = train(chars, tmp_path, 4e-4)
    doc = DoctorCallback(out=tmp_path / "doc", budget=10, render="none")
    watched = train(chars, tmp_path, 4e-4, doc)
    losses = [h["loss"] for h in plain.state.log_history if "loss" in h]
    assert len(losses) == 12
    assert [h["loss"] for h in watched.state.log_history if "loss" in h] == losses   # bit for bit
    assert losses[-1] < losses[0] - 0.5                                              # it does learn
    assert doc.report["healthy"], doc.report["findings"]
    assert doc.report["steps"] == 60
    assert json.loads((tmp_path / "doc" / "diagnosis.json").read_text())["healthy"] is True
    # the pre-clip norm is the Trainer's own (logged) grad_norm, at its log steps
    pre = doc.report["probes"]["trainer"]["grad_norm_before_clipping"]
    logged = [(h["step"], h["grad_norm"]) for h in watched.state.log_history if "grad_norm" in h]
    assert list(zip(pre["steps"], pre["total"])) == logged
    assert pre["max_total"] == max(n for _, n in logged)


def test_far_too_high_lr_is_named(chars, tmp_path, capsys):
    doc = DoctorCallback(budget=10)
    trainer = train(chars, tmp_path, 30.0, doc)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert max(losses) > 10 * math.log(len(chars[0]))       # the Trainer's own numbers: it diverged
    ids = [f["id"] for f in doc.report["findings"]]
    assert "lr_too_high" in ids[:2], ids
    assert not doc.report["healthy"]
    assert "lr_too_high" in capsys.readouterr().err          # the verdict, on stderr
    # the Trainer clipped every step to norm 1 (max_grad_norm): only its logged pre-clip norm shows the explosion
    peak = max(h["grad_norm"] for h in trainer.state.log_history if "grad_norm" in h)
    assert peak > 1000
    exploding = next(f for f in doc.report["findings"] if f["id"] == "exploding_gradients")
    assert f"{peak:.3g}" in exploding["evidence"]
    assert "clip" in exploding["advice"]                     # the remedy table's code change, as watch writes it


def test_frozen_model_whose_optimizer_gets_nothing(chars, tmp_path):
    doc = DoctorCallback(out=tmp_path / "doc", render="none")
    with pytest.raises(RuntimeError, match="does not require grad"):   # the Trainer's own failure, unchanged
        train(chars, tmp_path, 4e-4, doc, frozen=True)
    f = doc.report["findings"][0]
    n_tensors = len(list(transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=len(chars[0]), n_positions=T, n_embd=32, n_layer=2, n_head=2)).parameters()))
    assert (f["id"], f["severity"]) == ("parameters_not_updated", "error")
    assert f["facts"] == {"model_parameters": n_tensors, "trainable": 0, "optimizer_parameters": 0}
    assert "requires_grad_(True)" in f["advice"]             # the remedy for a frozen model, from the one table
    saved = json.loads((tmp_path / "doc" / "diagnosis.json").read_text())
    assert saved["findings"][0]["id"] == "parameters_not_updated" and saved["healthy"] is False


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="render"):
        DoctorCallback(render="later")
    with pytest.raises(ValueError, match="every"):
        DoctorCallback(every=0)


def test_a_trainer_that_raised_leaves_no_hooks_once_the_next_train_begins(chars, tmp_path):
    from torch.nn.modules import module

    before = len(module._global_forward_hooks) + len(module._global_forward_pre_hooks)

    class Broken(torch.utils.data.Dataset):       # the 40th example cannot be read: the Trainer raises mid-run
        def __len__(self):
            return 400

        def __getitem__(self, i):
            if i == 39:
                raise OSError("disk gone")
            return chars[1][i]

    first = DoctorCallback(quiet=True, probes=False)
    with pytest.raises(OSError, match="disk gone"):
        train((chars[0], Broken()), tmp_path, 4e-4, first)
    assert first.report is None                     # no event told the callback
    second = DoctorCallback(quiet=True, probes=False)
    train(chars, tmp_path, 4e-4, second, steps=10)
    assert first.watch.report is not None           # closed when the next train() began
    assert second.report["steps"] == 10
    assert len(module._global_forward_hooks) + len(module._global_forward_pre_hooks) == before
