"""``babysit treat`` on the public clinic against a random baseline with the same budget of rounds.

    python bench/treat.py [--json] [--clinic clinic] [--rounds 3] [--seeds 3] [--budget 15]
                          [--only SUBSTR ...] [--limit N] [--quick]

For each clinic spec: train the original in full (one seed, shared by every method), then
``treat``: the doctor's loop (check -> apply the top finding's ``changes`` -> check ...), and
``random``: the same loop with each round's change drawn at random (one key among its valid
values: lr x 10^U(-2, 2), l2 x 10^U(-2, 2), another init / activation / norm / optimizer / batch
size / dropout / preprocessing; doctor/treat.py:random_change), once per ``--seeds`` seed. Both
keep a change unless the doctor finds the result worse, and stop when it finds the spec healthy.
The treated spec is trained in full with the original's seed.

    repaired (faulty spec)   the doctor finds the treated spec healthy and its final val accuracy
                             >= the original's - 0.005
    unchanged (healthy spec) the spec comes back as it was
    val_gain                 treated val accuracy - original val accuracy (mean over faulty specs)
    seconds                  checks + the treated spec's full training (the original's training is
                             reported apart: every method needs it to compare); ``compute_ratio`` =
                             seconds / the original's training seconds, summed over the specs

``--quick``: two small specs, 1 seed, 1 round, 2 s of monitored training per check, 2 epochs (a
smoke run).
Wall times on a shared box are pessimistic.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from machine import guarded, machine  # noqa: E402

from babysitter.doctor.clinic import cases  # noqa: E402
from babysitter.doctor.treat import advised, heal, random_change, train_in_full  # noqa: E402
from babysitter.spec import load_spec, override  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 0.005
QUICK = ["lr_too_high--sgd-mlp-digits", "linear-digits"]


def run_method(spec, before: dict, choose, rounds: int, budget: float, out: Path) -> dict:
    """One method on one spec: the loop, then the treated spec in full (unless unchanged)."""
    healed = heal(spec, rounds=rounds, budget=budget, choose=choose)
    changed = healed["spec"] != spec
    after = train_in_full(healed["spec"], out) if changed else dict(before, seconds=0.0)
    return {"healthy": healed["healthy"], "changed": changed, "rounds": len(healed["rounds"]),
            "kept": sum(r["kept"] for r in healed["rounds"]),
            "changes": [r["changes"] for r in healed["rounds"] if r["kept"]],
            "val_acc": after["val_acc"], "test_acc": after["test_acc"],
            "seconds": round(healed["seconds"] + after["seconds"], 2)}


def score(row: dict, before: dict, faulty: bool) -> dict:
    b = before["val_acc"] or 0.0
    a = row["val_acc"] or 0.0
    ok = (row["healthy"] and a >= b - TOLERANCE) if faulty else not row["changed"]
    return {**row, "ok": bool(ok), "val_gain": round(a - b, 4)}


def summarize(rows: list[dict], method: str, train_seconds: float) -> dict:
    """Repaired fraction (faulty), unchanged fraction (healthy), mean val gain, compute."""
    mine = [r for r in rows if r["method"] == method]
    faulty = [r for r in mine if r["expect"] != "healthy"]
    healthy = [r for r in mine if r["expect"] == "healthy"]
    seconds = sum(r["seconds"] for r in mine)
    return {"repaired_fraction": round(sum(r["ok"] for r in faulty) / max(len(faulty), 1), 4),
            "repaired": sum(r["ok"] for r in faulty), "faulty_runs": len(faulty),
            "healthy_unchanged_fraction": round(sum(r["ok"] for r in healthy) / max(len(healthy), 1), 4),
            "healthy_runs": len(healthy),
            "mean_val_gain": round(float(np.mean([r["val_gain"] for r in faulty])), 4) if faulty else None,
            "mean_rounds": round(float(np.mean([r["rounds"] for r in mine])), 2) if mine else None,
            "seconds": round(seconds, 1),
            "compute_ratio": round(seconds / max(train_seconds, 1e-9), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clinic", default=str(ROOT / "src" / "babysitter" / "clinic"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=3, help="random-baseline seeds")
    ap.add_argument("--budget", type=float, default=15.0, help="seconds of monitored training per check")
    ap.add_argument("--only", nargs="*", default=None, help="specs whose faulty/NAME or healthy/NAME contains one of these")
    ap.add_argument("--limit", type=int, default=None, help="the first N specs (after --only)")
    ap.add_argument("--epochs", type=int, default=None, help="override every spec's train.epochs (smoke runs)")
    ap.add_argument("--methods", default="treat,random", help="comma-separated: treat, random")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="2 small specs, 1 seed, 1 round, 2 s checks, 2 epochs")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no per-run progress lines on stderr")
    args = ap.parse_args(argv)
    if args.quick:
        args.only, args.seeds, args.rounds, args.budget = args.only or QUICK, 1, 1, 2.0
        args.epochs = args.epochs or 2
    torch.set_num_threads(args.threads)
    clinic = Path(args.clinic).resolve()
    if clinic.name == "clinic" and clinic.parent.name != "babysitter":
        sys.path.insert(0, str(clinic.parent))   # a copy's python factories: "clinic.models:..."
    where = lambda c: f"{c['path'].parent.name}/{c['path'].name}"  # noqa: E731  ("faulty/..." or "healthy/...")
    chosen = [c for c in cases(clinic) if c["path"].suffix == ".yaml"   # specs: treat edits a spec, not a script
              and (not args.only or any(s in where(c) for s in args.only))]
    chosen = chosen[:args.limit] if args.limit else chosen
    rows, train_seconds, t0 = [], 0.0, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n, case in enumerate(chosen):
            spec, faulty = load_spec(case["path"]), case["expect"] is not None
            if args.epochs:
                spec = override(spec, **{"train.epochs": args.epochs})
            before = train_in_full(spec, Path(tmp) / f"{n}-before")
            train_seconds += before["seconds"]
            methods = ([("treat", 0, advised)] if "treat" in args.methods else []) + (
                [("random", s, random_change(np.random.default_rng(s))) for s in range(args.seeds)]
                if "random" in args.methods else [])
            for method, seed, choose in methods:
                row = run_method(spec, before, choose, args.rounds, args.budget, Path(tmp) / f"{n}-{method}-{seed}")
                rows.append({"spec": case["path"].name, "expect": case["expect"] or "healthy", "method": method,
                             "seed": seed, "before_val_acc": before["val_acc"], **score(row, before, faulty)})
                if not args.quiet:   # progress on stderr (stdout holds only the JSON under --json)
                    r = rows[-1]
                    print(f"{r['spec']:55s} {method:6s} s{seed} ok={r['ok']!s:5s} healthy={r['healthy']!s:5s} "
                          f"val {before['val_acc']} -> {r['val_acc']} rounds {r['rounds']} {r['seconds']} s",
                          file=sys.stderr, flush=True)
    result = {"treat": summarize(rows, "treat", train_seconds),
              "random": summarize(rows, "random", train_seconds * max(args.seeds, 1)),
              "settings": {"rounds": args.rounds, "seeds": args.seeds, "budget": args.budget,
                           "specs": len(chosen), "tolerance": TOLERANCE, "threads": args.threads},
              "train_seconds_original": round(train_seconds, 1),
              "seconds": round(time.perf_counter() - t0, 1), "machine": machine(), "cases": rows}
    if args.json:
        print(json.dumps(result))
    else:
        for m in ("treat", "random"):
            print(m, json.dumps(result[m]))
    return 0


if __name__ == "__main__":
    guarded(main)
