"""Search benchmarks, side by side in one run (timings are ratios, not tests).

1. Throughput: trials/minute of 1 vs 2 worker processes on digits (tiny MLP, 1 epoch per trial).
2. Coarse-to-fine (20 coarse trials of 2 epochs + 10 fine trials of 5 epochs) vs plain random
   search (60 trials of 5 epochs) on an MNIST-1D MLP: compute used (sum of trial seconds) and the
   best validation accuracy. The lecture's point: the coarse stage is cheap (few epochs).

    python bench/search.py            # the full bench (a few minutes on 2 cores)
    python bench/search.py --smoke    # a few trials of each, to check it runs
    python bench/search.py --json     # one JSON object on stdout (the lines go to stderr)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from babysitter.search.study import search

DIGITS = {"name": "bench-digits", "data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16], "norm": "none"},
          "optim": {"name": "adam"}, "schedule": {"name": "constant"}, "train": {"epochs": 1, "batch_size": 8},
          "doctor": {"enabled": False}}
MNIST1D = {"name": "bench-mnist1d", "data": {"source": "mnist1d"}, "model": {"kind": "mlp", "hidden": [100, 100]},
           "optim": {"name": "adam"}, "schedule": {"name": "constant"}, "train": {"epochs": 3, "batch_size": 64},
           "doctor": {"enabled": False}}
SPACE = {"optim.lr": {"low": 1.0e-5, "high": 1.0e-1, "log": True},
         "regularize.l2": {"low": 1.0e-6, "high": 1.0e-2, "log": True}}


def say(line: str) -> None:
    print(line, file=sys.stderr)


def throughput(folder: Path, trials: int) -> dict:
    rates = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        search(DIGITS, {"optim.lr": {"low": 1e-5, "high": 1e-2, "log": True}}, trials=trials, workers=workers,
               storage=str(folder / "bench.log"), study=f"throughput-{workers}", out=folder / f"t{workers}")
        minutes = (time.perf_counter() - t0) / 60
        rates[workers] = trials / minutes
        say(f"{workers} worker(s): {trials} trials in {minutes * 60:.1f} s = {rates[workers]:.1f} trials/min "
            f"(process start-up included)")
    return {"trials": trials, "trials_per_min_1": rates[1], "trials_per_min_2": rates[2],
            "speedup_2_workers": rates[2] / rates[1]}


def coarse_to_fine(folder: Path, coarse: int, fine: int, plain: int, short: int = 2, full: int = 5) -> dict:
    storage = str(folder / "bench.log")
    c = search(MNIST1D, SPACE, trials=coarse, epochs=short, storage=storage, study="c2f", out=folder / "c2f", workers=2)
    f = search(MNIST1D, None, trials=fine, epochs=full, storage=storage, refine="c2f", out=folder / "c2f-fine",
               workers=2)
    r = search(MNIST1D, SPACE, trials=plain, epochs=full, storage=storage, study="plain", out=folder / "plain",
               workers=2, seed=1)
    best = lambda res: res["best"]["val_acc"] if res["best"] else float("nan")  # noqa: E731
    c2f_seconds, c2f_best = c["compute_seconds"] + f["compute_seconds"], max(best(c), best(f))
    say(f"coarse-to-fine ({coarse}+{fine} trials): compute {c2f_seconds:.1f} s, "
        f"best val acc {c2f_best:.4f}; fine range {f['space']}")
    say(f"plain random ({plain} trials):      compute {r['compute_seconds']:.1f} s, best val acc {best(r):.4f}")
    for w in c["warnings"]:
        say(f"coarse warning: {w}")
    return {"c2f_compute_seconds": c2f_seconds, "c2f_best_val_acc": c2f_best, "plain_compute_seconds": r["compute_seconds"],
            "plain_best_val_acc": best(r), "compute_ratio": c2f_seconds / r["compute_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a few trials of each part")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.smoke:
            result = {**throughput(folder, trials=4), **coarse_to_fine(folder, coarse=4, fine=2, plain=4)}
        else:
            result = {**throughput(folder, trials=20), **coarse_to_fine(folder, coarse=20, fine=10, plain=60)}
    result["machine"] = machine()
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import guarded, machine

    guarded(main)
