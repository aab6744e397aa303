"""Speedrun: wall time to 94% (and 98%) MNIST-1D test accuracy, the paper's reference loop vs ours.

    python bench/speedrun.py [--seeds 0,1,2,3,4] [--every 10] [--steps 6000] [--threads T]
                             [--set train.epochs=8 ...] [--json]

(a) reference: what a user writes from the MNIST-1D paper (Greydanus 2020) -- a plain PyTorch
    loop, its CNN (examples/mnist1d_paper.py), Adam lr 1e-2, batch 100, constant lr, all 4000
    training examples, raw data as the package ships it, ``--steps`` steps (6000 in the paper).
(b) ours: the built-in default recipe (CNN with batch norm, He init, Nesterov + one-cycle,
    weight decay, label smoothing, shift:4 augmentation) through the toolkit's Trainer, in its
    fast configuration :data:`FAST`: stage widths [16, 32, 64] instead of [32, 64, 128] and a
    6-epoch one-cycle instead of 20 epochs (chosen on validation accuracy, not test; ``--set``
    overrides more). It trains on 3600 examples (10% held out for validation) and its clock
    includes the trainer's per-epoch validation pass and bookkeeping.

Both evaluate the same 1000 test examples every ``--every`` optimizer steps (and at the end);
the clock is paused while they do, so ``seconds`` is training time only: ``seconds_to_94`` is the
training time at the first evaluation with test accuracy >= 0.94. The clock starts after the
data and the model are built. Both run in one process with the same torch thread count
(``train.threads`` set to it), interleaved per seed (reference then ours); 5 seeds by default.

Summary over seeds (medians): a reference seed that never reaches the threshold contributes its
whole run's seconds, a lower bound on its time to reach it (``reached_94`` counts the seeds that
did); an ours seed that never reaches it contributes infinity (null if that is the median). So
``ratio_94 = ours.seconds_to_94 / reference.seconds_to_94`` can only overstate our time ratio.
``ratio_98`` is defined the same way.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from machine import guarded, machine  # noqa: E402

from examples.mnist1d_paper import paper_cnn  # noqa: E402
from babysitter.data.sources import mnist1d  # noqa: E402
from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.events import Callback  # noqa: E402
from babysitter.train.run import train  # noqa: E402

THRESHOLDS = (0.94, 0.98)
FAST = {"model.hidden": [16, 32, 64], "train.epochs": 6}  # our recipe's fast configuration


class Stopwatch:
    """Training time with the test evaluations cut out, on two clocks: wall (``time.perf_counter``)
    and this process's CPU time (``time.process_time``, all threads; steadier than wall time when
    other jobs load the machine). ``reached[t] = (seconds, cpu_seconds)`` at the first check whose
    accuracy is >= t, None until then; ``curve`` holds (step, seconds, cpu_seconds, acc) per check.

    ``check(step, evaluate)`` stops both clocks, calls ``evaluate() -> test acc``, restarts them.
    """

    def __init__(self, thresholds=THRESHOLDS):
        self.seconds, self.cpu_seconds, self.curve = 0.0, 0.0, []
        self.reached = {t: None for t in thresholds}

    def start(self) -> None:
        self._since, self._cpu_since = time.perf_counter(), time.process_time()

    def elapsed(self) -> float:
        """Wall seconds of training so far (evaluations excluded)."""
        return self.seconds + time.perf_counter() - self._since

    def check(self, step: int, evaluate) -> float:
        self.seconds += time.perf_counter() - self._since
        self.cpu_seconds += time.process_time() - self._cpu_since
        acc = evaluate()
        self.curve.append((step, round(self.seconds, 4), round(self.cpu_seconds, 4), acc))
        for t, hit in self.reached.items():
            if hit is None and acc >= t:
                self.reached[t] = (self.seconds, self.cpu_seconds)
        self.start()
        return acc

    def row(self, test_acc: float, steps: int) -> dict:
        row = {"test_acc": test_acc, "steps": steps, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds}
        for t, hit in self.reached.items():
            row[f"seconds_to_{round(t * 100)}"] = hit and hit[0]
            row[f"cpu_seconds_to_{round(t * 100)}"] = hit and hit[1]
        return row


@torch.inference_mode()
def accuracy(model, x, y) -> float:
    """Test accuracy of ``model`` in eval mode on ``x: (N, ...)``, ``y: (N,)``; restores train mode."""
    was = model.training
    model.eval()
    acc = (model(x).argmax(1) == y).float().mean().item()
    model.train(was)
    return acc


def reference(seed: int, arrays, steps: int, every: int) -> tuple[dict, list]:
    """The paper's loop: PaperCNN, Adam(1e-2), batch 100, reshuffled every epoch, ``steps`` steps."""
    x, x_test = (torch.as_tensor(a, dtype=torch.float32) for a in arrays[0::2])
    y, y_test = (torch.as_tensor(a, dtype=torch.long) for a in arrays[1::2])
    torch.manual_seed(seed)
    model = paper_cnn(10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(seed)
    watch, step, bs = Stopwatch(), 0, 100
    watch.start()
    while step < steps:
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x) - bs + 1, bs):
            idx = order[start:start + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % every == 0 or step == steps:
                watch.check(step, lambda: accuracy(model, x_test, y_test))
            if step == steps:
                break
    return watch.row(watch.curve[-1][-1], step), watch.curve


class TestWatch(Callback):
    """Our side of the measurement: a trainer callback that checks test accuracy every ``every`` steps."""

    def __init__(self, every: int):
        self.every, self.watch = every, Stopwatch()

    def before_fit(self, trainer):
        self.watch.start()

    def _check(self, trainer):
        d = trainer.data
        self.watch.check(trainer.step, lambda: trainer.evaluate(d.x_test, d.y_test)[1])

    def after_step(self, trainer):
        if trainer.step % self.every == 0:
            self._check(trainer)

    def after_fit(self, trainer):
        if trainer.step % self.every:
            self._check(trainer)


def ours(spec, every: int) -> tuple[dict, list]:
    cb = TestWatch(every)
    final = train(spec, progress=False, callbacks=[cb])
    return cb.watch.row(final["test_acc"], final["steps"]), cb.watch.curve


def _median(values) -> float | None:
    m = statistics.median(values)
    return None if math.isinf(m) else m


def summarize(rows: list[dict], lower_bound: bool) -> dict:
    """Medians over seeds; a seed that never reached a threshold counts as its whole run's seconds
    (``lower_bound``: the reference) or as infinity (ours)."""
    out = {k: statistics.median(r[k] for r in rows) for k in ("test_acc", "seconds", "cpu_seconds")}
    for clock in ("seconds", "cpu_seconds"):
        for t in ("94", "98"):
            key = f"{clock}_to_{t}"
            out[key] = _median([r[key] if r[key] is not None else (r[clock] if lower_bound else math.inf)
                                for r in rows])
            out["reached_" + t] = sum(r[key] is not None for r in rows)
    return out


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")  # medians over 5 seeds on both sides
    ap.add_argument("--every", type=int, default=10, help="evaluate test accuracy every N optimizer steps")
    ap.add_argument("--steps", type=int, default=6000, help="reference steps (the paper: 6000)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override our spec")
    ap.add_argument("--curves", type=Path, help="also write every (step, seconds, test acc) point here (JSON)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    # ours at the reference's thread count (not train.threads: auto), so both sides match
    sets = {"train.threads": args.threads, **FAST, **{k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}}
    spec = override(load_spec(None), device="cpu", **sets)
    arrays = mnist1d(None)
    rows = {"reference": [], "ours": []}
    curves = {"reference": {}, "ours": {}}
    for seed in seeds:  # interleaved: load on the machine hits both alike
        for name in rows:
            if name == "reference":
                row, curve = reference(seed, arrays, args.steps, args.every)
            else:
                row, curve = ours(override(spec, seed=seed), args.every)
            rows[name].append({"seed": seed, **row})
            curves[name][seed] = curve
            if not args.json:
                print(name, rows[name][-1], file=sys.stderr)
    summary = {"reference": summarize(rows["reference"], lower_bound=True),
               "ours": summarize(rows["ours"], lower_bound=False)}
    result = {**summary,
              "ratio_94": _ratio(summary["ours"]["seconds_to_94"], summary["reference"]["seconds_to_94"]),
              "ratio_98": _ratio(summary["ours"]["seconds_to_98"], summary["reference"]["seconds_to_98"]),
              "cpu_ratio_94": _ratio(summary["ours"]["cpu_seconds_to_94"], summary["reference"]["cpu_seconds_to_94"]),
              "cpu_ratio_98": _ratio(summary["ours"]["cpu_seconds_to_98"], summary["reference"]["cpu_seconds_to_98"]),
              "rows": rows, "seeds": seeds, "every": args.every, "reference_steps": args.steps,
              "ours_overrides": sets, "load_average": os.getloadavg(), "machine": machine()}
    if args.curves:
        args.curves.write_text(json.dumps(curves))
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    guarded(main)
