"""Eval throughput with and without batch-norm folding (babysitter.nn.fold), side by side.

Models: the default MNIST-1D cnn (``build_model(ModelSpec(), (40,), 10)``) and a resnet on the
same input. Each has random BN affine parameters and running statistics moved by a few
training-mode passes, so the folding is not a no-op. Unfolded and folded forward passes of one
batch (default 1000) alternate, repeat after repeat, so both see the same machine load; the
report is the median seconds per batch, examples/second, and the ratio unfolded / folded.

    python bench/inference.py [--batch 1000] [--repeats 20] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from babysitter.nn.fold import fold_batchnorm
from babysitter.nn.models import build_model
from babysitter.spec import ModelSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import guarded, machine  # noqa: E402

MODELS = {
    "cnn (default MNIST-1D)": ModelSpec(),
    "resnet [32, 64]": ModelSpec(kind="resnet"),
}


def _prepared(spec: ModelSpec, shape) -> nn.Module:
    torch.manual_seed(0)
    model = build_model(spec, shape, 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-1.0, 1.0)
        model.train()
        for _ in range(3):
            model(torch.randn(256, *shape))
    return model.eval()


def _seconds(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return time.perf_counter() - start


@torch.inference_mode()
def measure(spec: ModelSpec, batch: int, repeats: int, shape=(40,)) -> dict:
    model = _prepared(spec, shape)
    folded = fold_batchnorm(model)
    x = torch.randn(batch, *shape)
    diff = (model(x) - folded(x)).abs().max().item()
    for _ in range(3):                       # warm-up
        model(x), folded(x)
    times = {"unfolded": [], "folded": []}
    for i in range(repeats):                 # interleaved, alternating which goes first
        order = ("unfolded", "folded") if i % 2 == 0 else ("folded", "unfolded")
        for which in order:
            times[which].append(_seconds(model if which == "unfolded" else folded, x))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"unfolded_s": med["unfolded"], "folded_s": med["folded"],
            "unfolded_eps": batch / med["unfolded"], "folded_eps": batch / med["folded"],
            "speedup": med["unfolded"] / med["folded"], "max_abs_diff": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [{"name": name, **measure(spec, args.batch, args.repeats)} for name, spec in MODELS.items()]
    facts = machine()
    if args.json:
        print(json.dumps({"models": rows, "batch": args.batch, "repeats": args.repeats,
                          "load_average": os.getloadavg(), "machine": facts}))
        return
    print(f"batch {args.batch}, {args.repeats} interleaved repeats, median; torch {facts['torch']}, "
          f"{facts['threads']} threads on {facts['cores']} CPUs")
    print(f"{'model':24s} {'unfolded ex/s':>14s} {'folded ex/s':>12s} {'speed-up':>9s} {'max |diff|':>11s}")
    for r in rows:
        print(f"{r['name']:24s} {r['unfolded_eps']:14.0f} {r['folded_eps']:12.0f} {r['speedup']:8.2f}x "
              f"{r['max_abs_diff']:11.2e}")


if __name__ == "__main__":
    guarded(main)
