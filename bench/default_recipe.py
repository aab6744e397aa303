"""The built-in default spec (only data.source: mnist1d) against the MNIST-1D paper's reference CNN.

    python bench/default_recipe.py [--seeds 0,1,2] [--json]

Both run through the same trainer; `seconds` is the summed epoch wall time (training + the
per-epoch validation pass), as in metrics.jsonl. The paper's CNN: Adam 1e-2, batch 100, 6000 steps.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import guarded, machine  # noqa: E402

from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.run import train  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for name, spec in (("default", load_spec(None)), ("paper-cnn", load_spec(Path("examples/mnist1d-paper-cnn.yaml")))):
        for seed in seeds:
            final = train(override(spec, seed=seed), progress=False)
            rows.append({"recipe": name, "seed": seed, "test_acc": final["test_acc"],
                         "seconds": round(final["train_seconds"], 2), "steps": final["steps"]})
            if not args.json:
                print(rows[-1], file=sys.stderr)
    summary = {name: {"median_test_acc": statistics.median(r["test_acc"] for r in rows if r["recipe"] == name),
                      "median_seconds": statistics.median(r["seconds"] for r in rows if r["recipe"] == name)}
               for name in ("default", "paper-cnn")}
    result = {"rows": rows, "summary": summary, "machine": machine()}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    guarded(main)
