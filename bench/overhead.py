"""Trainer overhead: the MNIST-1D paper CNN, 6000 steps of batch 100, in
(a) a plain PyTorch loop, (b) our Trainer without instruments, (c) our Trainer with the doctor's
instruments at the default cadence (``doctor.every``), (d) PyTorch Lightning's Trainer, the one a
user would pick instead (bench/lightning_loop.py: logger, checkpointing, progress bar and sanity
validation off) — same seed, init, data and batch order, side by side in one process.

    python bench/overhead.py [--steps 6000] [--repeats 5] [--threads N] [--json]

Each config's seconds: wall time from building the optimizer (the Trainer, the instruments) to
the end of the test-set evaluation, i.e. what a user waits for. Repeats are interleaved, the
order rotating each repeat, after one untimed warm-up epoch of each. ``ratio`` = median ours /
median plain (``ratio_min`` from the fastest runs, the least disturbed by other load); goals
1.01 and 1.03 (doctor). ``ratio_lightning`` = median Lightning / median plain (goal: doctor's
seconds <= Lightning's); ``max_loss_diff_lightning``: (d) against (a). Without pytorch-lightning
installed (``pip install -e '.[lightning]'``) the Lightning keys are null. ``ratio_cpu``/``ratio_doctor_cpu``: the same from this process's CPU
time (medians), which waiting for a CPU held by another job does not inflate.
``max_loss_diff``: the largest |difference| of the per-epoch training losses of (a) and (b) over
all repeats (goal 1e-5; the loops compute the same thing, so 0.0); ``max_loss_diff_doctor``: (b)
against (c). ``--threads``: torch threads for all four loops alike (default: what ``fit_threads``
picks for this machine), pinned before every run and given to ours as ``train.threads`` (so
``train.threads: auto`` cannot time other counts mid-run: a loop at another thread count sums in
another order, and its loss trajectory drifts from the plain loop's); on a machine shared with
other jobs use 1 (more OpenMP threads than free cores slow small steps 4-10x). ``threads`` in the
result: the count all four ran at.
``doctor_hook_share``: one more (c) run with the instruments' own hooks timed from inside, their
seconds / that run's seconds: the doctor's cost measured directly, immune to the wall-clock noise
of a shared machine.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the examples' model factory

from machine import guarded, machine  # noqa: E402

from babysitter.data import load_data  # noqa: E402
from babysitter.doctor.instruments import make_instruments  # noqa: E402
from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.events import HOOKS, Callback  # noqa: E402
from babysitter.train.run import build  # noqa: E402
from babysitter.train.trainer import Trainer, epoch_seed, fit_threads  # noqa: E402
from lightning_loop import lightning_loop  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("plain", "ours", "doctor", "lightning")


def plain_loop(model, data, spec) -> list[float]:
    """What a user writes: Adam, cross entropy, shuffled mini-batches, the epoch's loss summed as a
    tensor (no sync per step), then the test accuracy. Returns the per-epoch mean losses.
    The order comes from a generator seeded by (seed, epoch), as in the Trainer."""
    opt = torch.optim.Adam(model.parameters(), lr=spec.optim.lr)
    x, y, bs = data.x_train, data.y_train, spec.train.batch_size
    losses = []
    for epoch in range(spec.train.epochs):
        g = torch.Generator().manual_seed(epoch_seed(spec.seed, epoch))
        torch.manual_seed(epoch_seed(spec.seed, epoch))
        order = torch.randperm(len(x), generator=g)
        total = torch.zeros(())
        for start in range(0, len(x), bs):
            idx = order[start:start + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        losses.append(total.item() / len(x))
    with torch.no_grad():
        model.eval()
        (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    return losses


def ours(model, data, spec, doctor: bool, spent: list | None = None) -> list[float]:
    """(b) or (c): the same run through ``Trainer.fit`` (which ends with the test evaluation)."""
    callbacks = make_instruments(spec) if doctor else []
    if spent is not None:
        timed(callbacks, spent)
    trainer = Trainer(model, data, spec, callbacks=callbacks, progress=False)
    trainer.fit()
    return [r["train_loss"] for r in trainer.history.rows]


def timed(callbacks: list, spent: list) -> None:
    """Wrap each instrument's overridden hooks (and the activation hooks' ``_observe``) on the
    instance so the seconds spent inside them add up in ``spent[0]``."""
    def wrap(fn):
        def inner(*args):
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent[0] += time.perf_counter() - t0
        return inner

    for cb in callbacks:
        for name in (*HOOKS, "_observe"):
            overridden = name in HOOKS and getattr(type(cb), name) is not getattr(Callback, name)
            if overridden or name in type(cb).__dict__:
                setattr(cb, name, wrap(getattr(cb, name)))


def run(name, spec, data, spent=None) -> tuple[float, float, list[float]]:
    """(wall seconds, CPU seconds of this process, per-epoch losses) of one config, at the one
    thread count all configs share (``spec.train.threads``)."""
    torch.set_num_threads(int(spec.train.threads))   # the same count for all four loops
    model, _ = build(spec, data=data)  # seeded: the same init every time
    w0, c0 = time.perf_counter(), time.process_time()
    if name == "plain":
        losses = plain_loop(model, data, spec)
    elif name == "lightning":
        losses = lightning_loop(model, data, spec)
    else:
        losses = ours(model, data, spec, name == "doctor", spent)
    return time.perf_counter() - w0, time.process_time() - c0, losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: the Trainer's choice)")
    ap.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fit_threads(torch.device("cpu"))  # what the Trainer would set
    threads = torch.get_num_threads()  # one count for all four loops, pinned in run()
    spec = override(load_spec(ROOT / "examples" / "mnist1d-paper-cnn.yaml"), device="cpu",
                    **{"train.threads": threads})
    data = load_data(spec.data, spec.seed)
    per_epoch = len(data.x_train) // spec.train.batch_size
    spec = override(spec, **{"train.epochs": max(1, round(args.steps / per_epoch))})
    warm = override(spec, **{"train.epochs": 1})
    configs = CONFIGS if run("lightning", warm, data)[2] is not None else CONFIGS[:3]
    for name in configs[:3]:
        run(name, warm, data)
    load_before = os.getloadavg()
    times, cpu = {name: [] for name in configs}, {name: [] for name in configs}
    diff = diff_doctor = diff_lightning = 0.0
    for r in range(args.repeats):
        losses = {}
        k = r % len(configs)
        for name in configs[k:] + configs[:k]:  # rotate who goes first
            seconds, cpu_seconds, losses[name] = run(name, spec, data)
            times[name].append(seconds)
            cpu[name].append(cpu_seconds)
        diff = max(diff, max(abs(a - b) for a, b in zip(losses["plain"], losses["ours"], strict=True)))
        diff_doctor = max(diff_doctor, max(abs(a - b) for a, b in zip(losses["ours"], losses["doctor"], strict=True)))
        if "lightning" in losses:
            diff_lightning = max(diff_lightning, max(abs(a - b) for a, b in
                                                     zip(losses["plain"], losses["lightning"], strict=True)))
        if not args.json:
            print(f"repeat {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)
    spent = [0.0]
    seconds, _, _ = run("doctor", spec, data, spent)
    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result = {"plain_seconds": med["plain"], "ours_seconds": med["ours"], "ours_doctor_seconds": med["doctor"],
              "ratio": med["ours"] / med["plain"], "ratio_doctor": med["doctor"] / med["plain"],
              "max_loss_diff": diff,
              "plain_seconds_min": low["plain"], "ours_seconds_min": low["ours"],
              "ours_doctor_seconds_min": low["doctor"],
              "ratio_min": low["ours"] / low["plain"], "ratio_doctor_min": low["doctor"] / low["plain"],
              "ratio_cpu": med_cpu["ours"] / med_cpu["plain"], "ratio_doctor_cpu": med_cpu["doctor"] / med_cpu["plain"],
              "max_loss_diff_doctor": diff_doctor,
              "lightning_seconds": med.get("lightning"), "lightning_seconds_min": low.get("lightning"),
              "ratio_lightning": med["lightning"] / med["plain"] if "lightning" in med else None,
              "max_loss_diff_lightning": diff_lightning if "lightning" in med else None, "doctor_hook_share": spent[0] / seconds,
              "seconds": times, "cpu_seconds": cpu, "steps": spec.train.epochs * per_epoch, "threads": threads,
              "batch_size": spec.train.batch_size, "repeats": args.repeats, "every": spec.doctor.every,
              "load_average": [load_before, os.getloadavg()], "machine": machine()}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    guarded(main)
