"""Which epoch-cutting trick helps the Fashion-MNIST recipe: each trick added alone to the base
spec (and all of them together), same seed, data and epochs, chosen on validation.

    python bench/ablation.py [--spec examples/fashion-mnist.yaml] [--epochs 8] [--subset N]
                             [--threads T] [--json]

Tricks (spec keys): whiten (model.whiten_first), dirac (model.dirac), norm_lr (optim.norm_lr_scale
16), ema (train.ema 0.99), tta (train.tta [flip]), alternating (data.augment flip:alternating in
place of flip), all. Per row: the validation accuracy after each epoch, the first epoch (and
training seconds) at which validation reached 0.92 / 0.93, best_val_acc, and the test accuracy
at the end (reported, never used to choose). Seconds depend on the machine's load
(``load_average``); epochs do not.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from machine import guarded, machine  # noqa: E402

from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.run import build  # noqa: E402
from babysitter.train.trainer import Trainer  # noqa: E402

TRICKS = {
    "base": {},
    "whiten": {"model.whiten_first": True},
    "dirac": {"model.dirac": True},
    "norm_lr": {"optim.norm_lr_scale": 16.0},
    "ema": {"train.ema": 0.99},
    "tta": {"train.tta": ["flip"]},
    "alternating": {"data.augment": ["flip:alternating"]},
}
TRICKS["all"] = {k: v for t in TRICKS.values() for k, v in t.items()}
THRESHOLDS = (0.92, 0.93)


def one(spec) -> dict:
    model, data = build(spec)
    trainer = Trainer(model, data, spec, progress=False)
    final = trainer.fit()
    rows, out, clock = trainer.history.rows, {}, 0.0
    for t in THRESHOLDS:
        out[f"epoch_to_{t}"], out[f"seconds_to_{t}"], clock = None, None, 0.0
        for r in rows:
            clock += r["seconds"]
            if r["val_acc"] >= t:
                out[f"epoch_to_{t}"], out[f"seconds_to_{t}"] = r["epoch"], round(clock, 1)
                break
    return {"val_acc": [round(r["val_acc"], 4) for r in rows], **out, "best_val_acc": final["best_val_acc"],
            "test_acc": final["test_acc"], "train_seconds": round(final["train_seconds"], 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "examples" / "fashion-mnist.yaml")
    ap.add_argument("--epochs", type=int, default=0, help="0: the spec's")
    ap.add_argument("--subset", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated row names (default: every row)")
    ap.add_argument("--combine", default="", help="one more row: these trick names together, e.g. whiten,norm_lr")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    base = override(load_spec(args.spec), device="cpu", **{"train.threads": args.threads, "doctor.enabled": False})
    if args.epochs:
        base = override(base, **{"train.epochs": args.epochs})
    if args.subset:
        base = override(base, **{"data.subset": args.subset})
    if args.combine:
        TRICKS[args.combine.replace(",", "+")] = {k: v for t in args.combine.split(",") for k, v in TRICKS[t].items()}
    rows, load = {}, [os.getloadavg()]
    names = args.only.split(",") if args.only else list(TRICKS)
    if args.combine and args.combine.replace(",", "+") not in names:
        names.append(args.combine.replace(",", "+"))
    for name in names:
        rows[name] = {"set": TRICKS[name], **one(override(base, **TRICKS[name]))}
        if not args.json:
            print(name, rows[name], file=sys.stderr, flush=True)
    load.append(os.getloadavg())
    print(json.dumps({"rows": rows, "epochs": base.train.epochs, "subset": args.subset, "load_average": load,
                      "machine": machine()}, indent=None if args.json else 2))


if __name__ == "__main__":
    torch.set_num_threads(1)
    guarded(main)
