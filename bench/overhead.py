"""Trainer overhead: the MNIST-1D paper CNN, 6000 steps of batch 100, in
(a) a plain PyTorch loop, (b) our Trainer without instruments, (c) with the doctor's instruments
at the default cadence — same seed, same data, same batch order, side by side in one process.

    python bench/overhead.py [--repeats 3] [--steps 6000] [--json]

The plain loop reproduces the trainer's data order (a generator seeded by (seed, epoch), torch's
global RNG reseeded the same way) so the per-epoch training losses of (a) and (b) must agree.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import machine  # noqa: E402

from babysitter.doctor.instruments import make_instruments  # noqa: E402
from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.run import build  # noqa: E402
from babysitter.train.trainer import Trainer, epoch_seed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def plain_loop(model, data, spec) -> tuple[float, list[float]]:
    """What a user writes: Adam, cross entropy, shuffled batches; returns (seconds, epoch losses)."""
    opt = torch.optim.Adam(model.parameters(), lr=spec.optim.lr)
    x, y, bs = data.x_train, data.y_train, spec.train.batch_size
    losses = []
    t0 = time.perf_counter()
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
    return time.perf_counter() - t0, losses


def ours(model, data, spec, doctor: bool) -> tuple[float, list[float]]:
    callbacks = make_instruments(spec) if doctor else []
    trainer = Trainer(model, data, spec, callbacks=callbacks, progress=False)
    trainer.fit()
    rows = trainer.history.rows
    return sum(r["seconds"] for r in rows), [r["train_loss"] for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))  # the example factory
    spec = load_spec(ROOT / "examples" / "mnist1d-paper-cnn.yaml")
    spec = override(spec, **{"train.epochs": max(1, args.steps * spec.train.batch_size // 4000), "device": "cpu"})
    times = {"plain": [], "ours": [], "doctor": []}
    diff = 0.0
    for _ in range(args.repeats):  # interleaved, so load on the machine hits all three alike
        runs = {}
        for name in times:
            model, data = build(spec)  # seeded: the same init each time
            runs[name] = plain_loop(model, data, spec) if name == "plain" else ours(model, data, spec, name == "doctor")
            times[name].append(runs[name][0])
        diff = max(diff, max(abs(a - b) for a, b in zip(runs["plain"][1], runs["ours"][1])))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"plain_seconds": med["plain"], "ours_seconds": med["ours"], "ours_doctor_seconds": med["doctor"],
              "ratio": med["ours"] / med["plain"], "ratio_doctor": med["doctor"] / med["plain"],
              "max_loss_diff": diff, "steps": spec.train.epochs * 40, "repeats": args.repeats, "machine": machine()}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
