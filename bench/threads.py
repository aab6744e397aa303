"""A busy machine must not make training crawl: the built-in default recipe trained with
``train.threads: auto`` (timed choice, train/threads.py) and with a fixed count (torch's default
on the CPUs granted), on a quiet machine and next to ONE competing CPU-bound process.

    python bench/threads.py [--epochs N] [--fixed T] [--json]

``seconds``: training seconds (final.json ``train_seconds``, epochs incl. their validation).
``ratio_busy_auto`` = busy auto / quiet (the faster quiet config): goal <= 1.6 (issue #17);
``ratio_busy_fixed`` the same for the fixed count; ``ratio_quiet_auto`` = quiet auto / quiet fixed:
goal <= 1 + noise (no loss on a quiet box). The competitor is ``python -c 'while True: pass'``,
started before and killed after the busy runs. On a machine already shared with other jobs
"quiet" is not quiet: ``load_average`` says how busy it was.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import guarded, machine  # noqa: E402

from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.run import train  # noqa: E402
from babysitter.train.trainer import cpu_threads  # noqa: E402


def one(threads, epochs: int | None) -> dict:
    spec = override(load_spec(None), device="cpu", **{"train.threads": threads})
    if epochs:
        spec = override(spec, **{"train.epochs": epochs})
    final = train(spec, progress=False)
    return {"seconds": final["train_seconds"], "test_acc": final["test_acc"], "threads_end": final["threads"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=0, help="0: the recipe's own")
    ap.add_argument("--fixed", type=int, default=0, help="the fixed count (0: the CPUs granted)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    fixed = args.fixed or cpu_threads()
    rows, load = {}, [os.getloadavg()]
    for name, threads in (("quiet_auto", "auto"), ("quiet_fixed", fixed)):
        rows[name] = one(threads, args.epochs)
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for name, threads in (("busy_auto", "auto"), ("busy_fixed", fixed)):
            rows[name] = one(threads, args.epochs)
        load.append(os.getloadavg())
    finally:
        competitor.kill()
        competitor.wait()
    quiet = min(rows["quiet_auto"]["seconds"], rows["quiet_fixed"]["seconds"])
    result = {**{f"{k}_seconds": v["seconds"] for k, v in rows.items()},
              "ratio_busy_auto": rows["busy_auto"]["seconds"] / quiet,
              "ratio_busy_fixed": rows["busy_fixed"]["seconds"] / quiet,
              "ratio_quiet_auto": rows["quiet_auto"]["seconds"] / rows["quiet_fixed"]["seconds"],
              "runs": rows, "fixed_threads": fixed, "load_average": load, "machine": machine()}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    guarded(main)
