"""The GPU check: the default and Fashion-MNIST recipes, the speedrun's fast recipe and the
overhead bench's paper CNN, each at ``train.precision`` 32 and bf16, ``train.compile`` off and on,
on one CUDA device; one JSON object. Run through bench/gpu.sh (which exits 0 without CUDA).

    python bench/gpu.py [--device cuda] [--budget-minutes 7.5] [--quick] [--compile on,off] [--json]

Each case: ``train_seconds`` (final.json: the epochs incl. their validation pass),
``wall_seconds`` (build + train + test, compiling included), ``test_acc``. The Fashion-MNIST
recipe runs ``--fashion-epochs`` epochs (default 4) so the whole script fits 8 minutes; cases
still waiting when ``--budget-minutes`` is spent are listed under ``skipped``. ``--quick``
(a smoke run on any device): 300 examples, 1 epoch. ``speedup_bf16`` / ``speedup_compile``:
train seconds of the 32/eager case over the bf16 (eager) / compiled (fp32) case, per recipe.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from machine import guarded, machine  # noqa: E402
from speedrun import FAST  # noqa: E402

from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.run import train  # noqa: E402


def recipes(args) -> dict:
    paper = override(load_spec(ROOT / "examples" / "mnist1d-paper-cnn.yaml"), **{"train.epochs": 40})
    out = {"default": load_spec(None), "speedrun": override(load_spec(None), **FAST), "overhead": paper}
    fashion = ROOT / "examples" / "fashion-mnist.yaml"
    if Path("/usr/share/datasets/fashion-mnist").is_dir() or args.quick:
        out["fashion"] = override(load_spec(fashion), **{"train.epochs": args.fashion_epochs})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--budget-minutes", type=float, default=7.5)
    ap.add_argument("--fashion-epochs", type=int, default=4)
    ap.add_argument("--compile", default="off,on", help="which of off,on to run")
    ap.add_argument("--quick", action="store_true", help="300 examples, 1 epoch (a smoke run)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    start, cases, skipped = time.perf_counter(), [], []
    compiles = [c == "on" for c in args.compile.split(",")]
    for name, spec in recipes(args).items():
        if name == "fashion" and args.quick:
            continue  # the IDX files may be absent on a smoke machine
        for precision in ("32", "bf16"):
            for compiled in compiles:
                case = {"recipe": name, "precision": precision, "compile": compiled}
                if time.perf_counter() - start > 60 * args.budget_minutes:
                    skipped.append(case)
                    continue
                s = override(spec, device=args.device, **{"train.precision": precision, "train.compile": compiled,
                                                           "doctor.enabled": False})
                if args.quick:
                    s = override(s, **{"data.subset": 300, "train.epochs": 1})
                t0 = time.perf_counter()
                final = train(s, progress=False)
                cases.append({**case, "train_seconds": final["train_seconds"], "test_acc": final["test_acc"],
                              "wall_seconds": time.perf_counter() - t0, "epochs": final["epochs"]})
                if not args.json:
                    print(cases[-1], file=sys.stderr)
    by = {(c["recipe"], c["precision"], c["compile"]): c["train_seconds"] for c in cases}
    speedups = {name: {"speedup_bf16": by[(name, "32", False)] / by[(name, "bf16", False)]
                       if (name, "bf16", False) in by and (name, "32", False) in by else None,
                       "speedup_compile": by[(name, "32", False)] / by[(name, "32", True)]
                       if (name, "32", True) in by and (name, "32", False) in by else None}
                for name in dict.fromkeys(c["recipe"] for c in cases)}
    result = {"cases": cases, "skipped": skipped, "speedups": speedups,
              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
              "seconds": time.perf_counter() - start, "machine": machine()}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    guarded(main)
