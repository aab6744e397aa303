"""Fashion-MNIST test accuracy against wall time on this CPU, through the toolkit.

    python bench/fashion.py [--spec examples/fashion-mnist.yaml] [--budget 300] [--epochs auto|N]
                            [--subset N] [--threads T] [--plot bench/results/fashion.png] [--json]

Data: Debian's dataset-fashion-mnist (60000 train, 6000 of them held out for validation, 10000
test). The test accuracy is measured at the end of every epoch with the clock stopped, so
``seconds`` is training time only: the trainer's epochs including their validation pass, not the
test evaluations, not loading the data. ``wall_seconds`` is everything, from start to the end.

The schedule (one-cycle) is planned to end inside ``--budget``: with ``--epochs auto`` the bench
times a few training steps of a throwaway copy of the model (``plan_seconds``, counted in
``wall_seconds``) and runs ``floor(0.9 * budget / epoch_seconds)`` epochs, at least 1 and at most
the spec's ``train.epochs`` (the plan for a quiet 2-core box). A budget callback stops training
cleanly should the machine slow down after planning. Anchors: scikit-learn's best in the
Fashion-MNIST benchmark ~0.897 (SVC); ResNet-18 ~0.949.
"""

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from machine import guarded, machine  # noqa: E402
from speedrun import Stopwatch  # noqa: E402

from babysitter.spec import load_spec, override  # noqa: E402
from babysitter.train.events import Callback  # noqa: E402
from babysitter.train.run import build, train  # noqa: E402
from babysitter.train.trainer import Trainer  # noqa: E402

THRESHOLDS = (0.93, 0.94)


class EpochTestWatch(Callback):
    """Test accuracy at every epoch's end with the clock stopped; asks the trainer to stop once
    the training time passes ``budget`` seconds (checked after every step)."""

    def __init__(self, budget: float):
        self.budget, self.watch, self.stopped, self.val = budget, Stopwatch(THRESHOLDS), False, []

    def before_fit(self, trainer):
        self.watch.start()

    def after_step(self, trainer):
        if self.watch.elapsed() > self.budget:
            trainer.stop_requested = self.stopped = True

    def after_epoch(self, trainer):
        d = trainer.data
        rows = trainer.history.rows
        self.val.append(rows[-1].get("val_acc") if rows else None)   # what a choice between recipes may read
        self.watch.check(trainer.epoch, lambda: trainer.evaluate(d.x_test, d.y_test)[1])


def epoch_seconds(spec, model, data, steps: int = 20, warmup: int = 5) -> float:
    """Seconds per epoch: ``steps`` timed training steps (after ``warmup`` untimed ones) of a copy of
    ``model`` on the first batches, times the steps per epoch, plus the validation pass (timed
    on up to 2048 examples, scaled). The model itself is untouched."""
    # a constant lr: the timed steps may outnumber a tiny subset's one-cycle plan
    trainer = Trainer(copy.deepcopy(model), data, override(spec, **{"schedule.name": "constant"}), progress=False)
    bs, n = spec.train.batch_size, len(data.x_train)
    for i in range(steps + warmup):
        if i == warmup:
            t0 = time.perf_counter()
        idx = torch.arange(i * bs, (i + 1) * bs) % n   # full batches, wrapping round a small training set
        trainer.train_step(data.x_train[idx], data.y_train[idx])
    per_step = (time.perf_counter() - t0) / steps
    n_val = min(len(data.x_val), 2048)
    t0 = time.perf_counter()
    trainer.evaluate(data.x_val[:n_val], data.y_val[:n_val])
    val = (time.perf_counter() - t0) * len(data.x_val) / max(n_val, 1)
    return per_step * trainer.steps_per_epoch + val


def plot(curve: list, budget: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([c[1] for c in curve], [100 * c[3] for c in curve], "o-", label="ours (test, per epoch)")
    for acc, label in ((89.7, "scikit-learn best (SVC)"), (93.0, "goal 93%"), (94.0, "stretch 94%")):
        ax.axhline(acc, ls="--", lw=0.8, color="gray")
        ax.text(0.01, acc + 0.1, label, fontsize=7, color="gray", transform=ax.get_yaxis_transform())
    ax.axvline(budget, ls=":", color="red", label=f"budget {budget:g} s")
    ax.set_xlim(0, 1.05 * max(budget, *(c[1] for c in curve)))
    ax.set_xlabel("training seconds (test evaluation excluded)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "examples" / "fashion-mnist.yaml")
    ap.add_argument("--budget", type=float, default=300.0, help="training seconds")
    ap.add_argument("--epochs", default="auto", help="'auto' (plan to fit the budget) or a number")
    ap.add_argument("--subset", type=int, help="train on the first N training examples only")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--plot", type=Path, default=ROOT / "bench" / "results" / "fashion.png")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    spec = override(load_spec(args.spec), device="cpu")
    if args.subset:
        spec = override(spec, **{"data.subset": args.subset})
    t0 = time.perf_counter()
    model, data = build(spec)
    load_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    planned = None
    if args.epochs == "auto":
        planned = epoch_seconds(spec, model, data)
        epochs = max(1, min(spec.train.epochs, math.floor(0.9 * args.budget / planned)))
    else:
        epochs = int(args.epochs)
    plan_seconds = time.perf_counter() - t0
    spec = override(spec, **{"train.epochs": epochs})
    cb = EpochTestWatch(args.budget)
    final = train(spec, model=model, data=data, progress=not args.json, callbacks=[cb])
    w = cb.watch
    result = {"test_acc": final["test_acc"], "seconds": w.seconds, "cpu_seconds": w.cpu_seconds,
              "epochs": final["epochs"], "steps": final["steps"], "planned_epochs": epochs, "planned_epoch_seconds": planned,
              "precision": final.get("precision"), "threads": final.get("threads"),
              "stopped_by_budget": cb.stopped,
              "reached_93_at": w.reached[0.93] and w.reached[0.93][0],
              "reached_94_at": w.reached[0.94] and w.reached[0.94][0],
              "best_val_acc": final.get("best_val_acc"),
              "curve": [{"epoch": e, "seconds": s, "cpu_seconds": c, "test_acc": a, "val_acc": v}
                        for (e, s, c, a), v in zip(w.curve, cb.val)],
              "budget": args.budget, "train_examples": len(data.x_train), "load_seconds": load_seconds,
              "plan_seconds": plan_seconds, "wall_seconds": time.perf_counter() - start,
              "spec": str(args.spec), "load_average": os.getloadavg(), "machine": machine()}
    if args.plot:
        plot(w.curve, args.budget, args.plot,
             f"Fashion-MNIST, {args.spec.name}, {torch.get_num_threads()} threads, load avg {os.getloadavg()[0]:.1f}")
        result["plot"] = str(args.plot)
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    guarded(main)
