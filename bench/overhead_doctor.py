"""Cost of the doctor's in-run instruments on the default recipe (MNIST-1D cnn, load_spec(None)).

    python bench/overhead_doctor.py [--epochs 3] [--repeats 5] [--threads N] [--json]

The same seed and data train twice per repeat, without and with ``make_instruments(spec)`` at
``doctor.every`` (25), in alternating order (plain first on even repeats, doctor first on odd
ones), after one untimed warm-up of each. ``seconds``: one ``Trainer.fit`` (training, the
per-epoch validation pass and the final test pass), on this process's CPU clock when training
runs on one CPU thread (immune to other processes on a shared machine), else wall time.
``ratio`` = median doctor / median plain; the budget is 1.03. On a busy machine that ratio swings
by +-10 % between repeats, so one more doctor run times the instruments' own hooks directly:
``instrument_share`` = seconds inside them / that run's wall time (the overhead, low-noise).
``--threads``: torch intra-op threads (0: torch's default; on a shared 2-core machine use 1,
since oversubscribed OpenMP threads make step times swing by 30x).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from machine import machine  # noqa: E402

from babysitter.data import load_data  # noqa: E402
from babysitter.doctor.instruments import make_instruments  # noqa: E402
from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.events import HOOKS, Callback  # noqa: E402
from babysitter.train.run import build  # noqa: E402
from babysitter.train.trainer import Trainer  # noqa: E402


def timed(callbacks: list, spent: list) -> None:
    """Wrap each instrument's hooks (and the activation hooks' ``_observe``) on the instance so
    the seconds spent inside them add up in ``spent[0]``: the overhead measured directly."""
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
            if name in type(cb).__dict__ or (name in HOOKS and getattr(type(cb), name) is not getattr(Callback, name)):
                setattr(cb, name, wrap(getattr(cb, name)))


def fit_seconds(spec, data, doctor: bool, spent: list | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, steps) of one ``Trainer.fit``."""
    model, _ = build(spec, data=data)
    callbacks = make_instruments(spec) if doctor else []
    if spent is not None:
        timed(callbacks, spent)
    trainer = Trainer(model, data, spec, callbacks=callbacks, progress=False)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    w0, c0 = time.perf_counter(), time.process_time()
    trainer.fit()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - w0, time.process_time() - c0, trainer.step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = override(load_spec(None), **{"train.epochs": args.epochs})
    data = load_data(spec.data, spec.seed)
    for doctor in (False, True):  # warm-up: allocator, kernels, page cache
        fit_seconds(spec, data, doctor)
    device = "cuda" if torch.cuda.is_available() and spec.device != "cpu" else "cpu"
    use_cpu_clock = device == "cpu" and torch.get_num_threads() == 1
    times = {False: [], True: []}
    steps = 0
    for r in range(args.repeats):
        for doctor in ((False, True) if r % 2 == 0 else (True, False)):
            wall, cpu, steps = fit_seconds(spec, data, doctor)
            times[doctor].append(cpu if use_cpu_clock else wall)
        if not args.json:
            print(f"repeat {r + 1}: plain {times[False][-1]:.3f}s doctor {times[True][-1]:.3f}s", file=sys.stderr)
    spent = [0.0]
    wall, _, _ = fit_seconds(spec, data, True, spent)   # one more doctor run, its hooks timed
    plain, doc = times[False], times[True]
    p, d = statistics.median(plain), statistics.median(doc)
    result = {"plain_seconds": round(p, 4), "doctor_seconds": round(d, 4), "ratio": round(d / p, 4),
              "pair_ratios": [round(b / a, 4) for a, b in zip(plain, doc)],
              "instrument_seconds": round(spent[0], 4), "instrument_share": round(spent[0] / wall, 4),
              "clock": "process CPU time" if use_cpu_clock else "wall time",
              "epochs": args.epochs, "steps": steps, "every": spec.doctor.every, "repeats": args.repeats,
              "machine": machine()}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
