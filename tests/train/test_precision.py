"""train.precision / compile / channels_last on the CPU: finite, and agreeing with float32.

Tolerances: bf16 rounds to 2^-8 relative (float16 to 2^-11), so one forward's logits agree with
float32's to 5e-2 absolute on O(1) logits; two epochs of training agree in mean loss to 0.05.
channels_last and compile compute the same math in another order: 1e-4.
"""

import math

import pytest
import torch

from babysitter.spec import load_spec
from babysitter.train.precision import Precision, resolve_precision
from babysitter.train.run import build
from babysitter.train.trainer import Trainer

SPEC = {"data": {"source": "digits", "subset": 300}, "model": {"kind": "cnn", "hidden": [8, 16], "convs": 1},
        "optim": {"name": "momentum", "lr": 0.05}, "schedule": {"name": "constant"},
        "train": {"epochs": 2, "batch_size": 32, "threads": 1}, "doctor": {"enabled": False}}


def fit(**train):
    spec = load_spec({**SPEC, "train": {**SPEC["train"], **train}})
    model, data = build(spec)
    trainer = Trainer(model, data, spec, progress=False)
    final = trainer.fit()
    return trainer, final


@pytest.fixture(scope="module")
def fp32():
    return fit()


@pytest.mark.parametrize("precision", ["bf16", "16-mixed"])
def test_low_precision_trains_finite_and_agrees_with_fp32(fp32, precision):
    ref, ref_final = fp32
    trainer, final = fit(precision=precision)
    losses = [r["train_loss"] for r in trainer.history.rows]
    assert all(math.isfinite(v) for v in losses)
    for a, b in zip(losses, [r["train_loss"] for r in ref.history.rows], strict=True):
        assert abs(a - b) < 0.05
    assert abs(final["test_acc"] - ref_final["test_acc"]) < 0.05
    assert (trainer.amp.scaler is not None) == (precision == "16-mixed")
    x = trainer.data.x_test[:64]
    ref.model.eval(), trainer.model.eval()
    with torch.no_grad():
        want = trainer.model(x)                       # float32 forward of the same weights
        with trainer.amp.autocast():
            got = trainer.model(x)
    assert got.dtype == trainer.amp.dtype
    torch.testing.assert_close(got.float(), want, atol=5e-2, rtol=0)


def test_channels_last_gives_the_fp32_numbers(fp32):
    ref, _ = fp32
    trainer, _ = fit(channels_last=True)
    conv = trainer.model.conv2.weight  # (16, 8, 3, 3): conv1 has one input channel, both layouts at once
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for a, b in zip(trainer.history.rows, ref.history.rows, strict=True):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4
    state = ref.model.state_dict()
    for k, v in trainer.model.state_dict().items():
        torch.testing.assert_close(v, state[k], atol=1e-4, rtol=1e-4)


def test_compile_gives_the_eager_numbers():
    """A small MLP (compiling is the slow part): the compiled run's losses are the eager run's."""
    small = {"data": {"source": "digits", "subset": 200}, "model": {"kind": "mlp", "hidden": [16], "norm": "none"},
             "train": {"epochs": 1, "batch_size": 50, "threads": 1}, "doctor": {"enabled": False}}
    rows = []
    for compiled in (False, True):
        spec = load_spec({**small, "train": {**small["train"], "compile": compiled}})
        model, data = build(spec)
        trainer = Trainer(model, data, spec, progress=False)
        trainer.fit()
        rows.append(trainer.history.rows[0]["train_loss"])
    assert abs(rows[0] - rows[1]) < 1e-4
    assert list(trainer.model.state_dict())[0] == "fc1.weight"  # keys as uncompiled: checkpoints interchange


def test_auto_picks_bf16_on_a_cpu_only_where_it_has_native_kernels():
    cpu = torch.device("cpu")
    mlp, cnn = torch.nn.Linear(4, 2), torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())
    conv1d = torch.nn.Conv1d(1, 4, 3)
    assert resolve_precision("auto", cpu, flags={"avx2", "avx512f"}, model=cnn) == "32"   # emulated bf16
    assert resolve_precision("auto", cpu, flags={"avx2", "avx512f", "avx512_bf16"}) == "32"
    assert resolve_precision("auto", cpu, flags={"avx512f", "avx512_bf16"}, model=mlp) == "32"
    assert resolve_precision("auto", cpu, flags={"avx512f", "avx512_bf16"}, model=conv1d) == "32"
    assert resolve_precision("auto", cpu, flags={"avx512f", "avx512_bf16"}, model=cnn) == "bf16"
    assert resolve_precision("auto", cpu, flags={"avx512_bf16", "amx_bf16", "amx_tile"}) == "bf16"
    assert resolve_precision("16-mixed", cpu) == "16-mixed"
    assert Precision("32", cpu).dtype is None


def test_yaml_int_32_and_bad_names():
    assert load_spec({**SPEC, "train": {"precision": 32}}).train.precision == "32"
    from babysitter.errors import BadInput
    with pytest.raises(BadInput, match="train.precision"):
        load_spec({**SPEC, "train": {"precision": "fp8"}})
