"""DistributedDataParallel on this machine: samples/s of the default recipe and of a larger ResNet
at N = 1 and N = 2 processes (``babysit train SPEC --nproc N``, torch's elastic launcher, gloo on
the CPU, NCCL on CUDA), and how far the N-process weights end from the one-process run's.

    python bench/ddp.py [--nproc 1,2] [--epochs 3] [--threads-each 1] [--json]
    # on a GPU machine (one process per GPU):
    python bench/ddp.py --nproc 1,2,4,8 --device cuda --epochs 5 --json

``samples_per_s``: training examples per second over epochs 2..E (the first epoch, which warms up
the allocator and the process group, is left out), from the per-epoch ``seconds`` of metrics.jsonl
(training plus the validation pass). ``wall_s``: the whole command, process start-up included.
Each process runs ``--threads-each`` torch threads (OMP_NUM_THREADS; default 1: on a machine
shared with other jobs, more OpenMP threads than free cores make small steps wait 4-10x, see
bench/overhead.py), so N = 2 uses twice the CPUs of N = 1; on 2 cores that are busy with other
work it need not be faster -- the point of N > 1 is more devices.
``max_weight_diff``: max |w_N - w_1| over the final weights. ``rounding_weight_diff``: the same
between two one-process runs that differ only in float rounding (1 vs 2 torch threads). Both
recipes train at a high peak lr (onecycle to 0.2) with batch norm, where rounding differences
of 1e-6 after the first steps grow to O(1) in the weights within 3 epochs either way; the
tests check the split on runs that stay in the linear regime (digits MLP: 1e-7 after 6 epochs).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import guarded, machine  # noqa: E402

from babysitter.train.trainer import cpu_threads  # noqa: E402

RECIPES = {
    "default": {"name": "ddp-default", "data": {"source": "mnist1d"}},
    "resnet": {"name": "ddp-resnet", "data": {"source": "mnist1d"},
               "model": {"kind": "resnet", "hidden": [32, 64, 128]}, "train": {"batch_size": 128}},
}


def run(spec: dict, nproc: int, threads_each: int, root: Path) -> dict:
    """One ``babysit train --nproc N --json`` run: its samples/s, wall seconds and final weights."""
    import torch

    path, out = root / f"{spec['name']}.yaml", root / f"{spec['name']}-{nproc}"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads_each)}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "babysitter.cli", "train", str(path), "--out", str(out),
                        "--nproc", str(nproc), "--json"], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"bench/ddp.py: nproc {nproc} failed: {p.stderr.strip().splitlines()[-1:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    n_train = _n_train(out)
    timed = rows[1:] or rows
    weights = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["model"]
    return {"nproc": nproc, "threads_each": threads_each,
            "samples_per_s": round(n_train * len(timed) / sum(r["seconds"] for r in timed), 1),
            "wall_s": round(wall, 1), "test_acc": json.loads(p.stdout)["test_acc"], "_weights": weights}


def _n_train(out: Path) -> int:
    from babysitter.data import load_data
    from babysitter.spec import load_spec

    spec = load_spec(out / "spec.yaml")
    return len(load_data(spec.data, spec.seed).x_train)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nproc", default="1,2")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads-each", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--recipes", default="default,resnet")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    counts = [int(n) for n in args.nproc.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.recipes.split(","):
            spec = {**RECIPES[name], "device": args.device}
            spec["train"] = {**spec.get("train", {}), "epochs": args.epochs}
            runs = [run(spec, n, args.threads_each, Path(tmp)) for n in counts]
            base = runs[0]["_weights"]
            for r in runs:
                w = r.pop("_weights")
                r["max_weight_diff"] = max(float((w[k].double() - base[k].double()).abs().max()) for k in base)
                r["speedup"] = round(r["samples_per_s"] / runs[0]["samples_per_s"], 3)
                if not args.json:
                    print(name, r, file=sys.stderr)
            rounding = run({**spec, "name": spec["name"] + "-t2"}, 1, 2 * args.threads_each, Path(tmp))
            results[name] = {**{f"n{r['nproc']}": r for r in runs}, "rounding_weight_diff": max(
                float((rounding["_weights"][k].double() - base[k].double()).abs().max()) for k in base)}
    out = {"bench": "ddp", "epochs": args.epochs, "device": args.device, "threads_each": args.threads_each, "cpus": cpu_threads(),
           "load_average": list(os.getloadavg()), "results": results, "machine": machine(),
           "gpu_command": "python bench/ddp.py --nproc 1,2,4,8 --device cuda --epochs 5 --json"}
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    guarded(main)
