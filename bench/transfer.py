"""Transfer learning on real data: the strategies x target sizes table (CS231n, Transfer learning).

    python bench/transfer.py [--json] [--sizes 5,50,500] [--draws 5:5,50:2,500:1] [--threads 2]

Source: Fashion-MNIST classes 0-4 (MNIST-1D digits 0-4 where Fashion-MNIST is not installed; the
result says which), the CNN ``hidden [32, 64], convs 1`` pretrained (a) supervised on the source
labels with flip + crop augmentation, ``--source-epochs`` epochs on all source training images
(``--source-subset``), (b) as an autoencoder on the first 10000 of them without labels
(``--autoencoder-subset``, ``--autoencoder-epochs``). Target: classes 5-9 with N examples per
class, drawn anew for each draw (``--draws N:K``: K draws at N/class); test accuracy on all
target-class test images, the mean over draws (``per_draw`` lists them). Every trained target
run uses the toolkit's default recipe (Nesterov, one-cycle, lr 0.2 for the head, x0.1 for
pretrained layers) for about ``--steps`` optimizer steps. Rows: scratch, linear_probe,
linear_probe_stages (logistic regression on pooled features of every stage, its L2 strength
chosen by cross-validation on the target's training examples), finetune_top (top block + head),
finetune_all, autoencoder (its encoder, fine-tuned whole). ``auto`` rows give the lecture's cell
that ``strategy: auto`` picks for each target, and for a *different* target (the same target
images with their pixels permuted by one fixed permutation) at the largest size.
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import torch  # noqa: E402
from machine import guarded, machine  # noqa: E402

from babysitter.data.sources import FASHION_MNIST_DIR  # noqa: E402
from babysitter.spec import load_spec  # noqa: E402
from babysitter.train.run import train  # noqa: E402
from babysitter.transfer import pretrain, stage_probe, transfer  # noqa: E402
from babysitter.transfer.run import decide, target_data  # noqa: E402
from babysitter.transfer.source import read_source, source_model  # noqa: E402

MODEL = {"hidden": [32, 64], "convs": 1}
SOURCE_AUGMENT = ["flip", "crop:2"]


def source_spec(data: str, subset: int | None, epochs: int, augment: list[str] | None = None) -> dict:
    return {"name": "source", "data": {"source": data, "subset": subset or None, "augment": augment,
                                       "options": {"classes": [0, 1, 2, 3, 4]}},
            "model": MODEL, "train": {"epochs": epochs}}


def target_spec(data: str, per_class: int, steps: int, seed: int = 0) -> dict:
    """Classes 5-9, ``per_class`` examples each (which ones: drawn by ``seed``), no validation
    split (the few labels all train)."""
    n = 5 * per_class
    batch = min(64, n)
    epochs = max(3, math.ceil(steps / math.ceil(n / batch)))
    return {"name": f"target-{per_class}", "seed": seed, "data": {"source": data, "val_fraction": 0.0,
                                                    "options": {"classes": [5, 6, 7, 8, 9], "per_class": per_class}},
            "model": MODEL, "train": {"epochs": epochs, "batch_size": batch}}


def stage_probe_run(spec: dict, source: Path) -> dict:
    """Logistic regression on the source network's pooled stage features (no gradient steps)."""
    spec = load_spec(spec)
    src = read_source(source, spec)
    data = target_data(spec, src.preprocess)
    return stage_probe(source_model(src, data.sample_shape, data.num_classes, spec.seed), data, spec.seed)


def auto_cell(spec: dict, source: Path, permute: bool = False) -> dict:
    """What ``strategy: auto`` picks (no training): the cell, the measured similarity, the reason."""
    spec = load_spec(spec)
    src = read_source(source, spec)
    data = target_data(spec, src.preprocess)
    if permute:  # a different data set: the same images, pixels shuffled by one fixed permutation
        perm = torch.randperm(data.x_train[0].numel(), generator=torch.Generator().manual_seed(0))
        for name in ("x_train", "x_val", "x_test"):
            x = getattr(data, name)
            setattr(data, name, x.flatten(1)[:, perm].view_as(x))
    model = source_model(src, data.sample_shape, data.num_classes, spec.seed)
    return decide(model, data, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--sizes", default="5,50,500", help="target examples per class")
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps per target run (about)")
    ap.add_argument("--source-subset", type=int, default=0, help="supervised source training images (0: all)")
    ap.add_argument("--autoencoder-subset", type=int, default=10000, help="unlabeled source images for the autoencoder")
    ap.add_argument("--source-epochs", type=int, default=8)
    ap.add_argument("--autoencoder-epochs", type=int, default=2)
    ap.add_argument("--draws", default="5:5,50:2,500:1", help="N:K = K target draws at N/class (default 1)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = "fashion-mnist" if Path(FASHION_MNIST_DIR).is_dir() else "mnist1d"
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sources, source_info = {}, {}
        for kind in ("supervised", "autoencoder"):  # pretrained once, reused by every target size
            sources[kind] = Path(tmp) / kind
            if kind == "supervised":
                augment = SOURCE_AUGMENT if data == "fashion-mnist" else None
                spec = load_spec(source_spec(data, args.source_subset, args.source_epochs, augment))
            else:
                spec = load_spec(source_spec(data, args.autoencoder_subset, args.autoencoder_epochs))
            final = pretrain(spec, sources[kind], kind, progress=False)
            source_info[kind] = {k: final[k] for k in ("test_acc", "reconstruction_mse_before",
                                                       "reconstruction_mse_after", "train_seconds") if k in final}
            say(kind, source_info[kind])
        rows, autos = [], []
        draws = {int(k): int(v) for k, v in (d.split(":") for d in args.draws.split(",") if d)}
        for n in [int(s) for s in args.sizes.split(",")]:
            accs = {}
            seeds = range(draws.get(n, 1))
            for seed in seeds:  # each seed draws other target examples (and initialises the head / scratch net)
                spec = target_spec(data, n, args.steps, seed)
                runs = {"scratch": lambda: train(spec, progress=False)}
                for strategy in ("linear_probe", "finetune_top", "finetune_all"):
                    runs[strategy] = lambda s=strategy: transfer(spec, sources["supervised"], strategy=s, progress=False)
                    if strategy == "linear_probe":
                        runs["linear_probe_stages"] = lambda: stage_probe_run(spec, sources["supervised"])
                runs["autoencoder"] = lambda: transfer(spec, sources["autoencoder"], strategy="finetune_all", progress=False)
                for name, fit in runs.items():
                    accs.setdefault(name, []).append(round(fit()["test_acc"], 4))
                    say(n, seed, name, accs[name][-1])
            for name, per_seed in accs.items():
                rows.append({"target_examples_per_class": n, "strategy": name,
                             "test_acc": round(sum(per_seed) / len(per_seed), 4), "draws": len(per_seed),
                             "per_draw": per_seed})
            spec = target_spec(data, n, args.steps, 0)
            autos.append({"target": f"{data} 5-9", "target_examples_per_class": n, **auto_cell(spec, sources["supervised"])})
            say(autos[-1]["cell"], autos[-1]["reason"])
        autos.append({"target": f"{data} 5-9, pixels permuted", "target_examples_per_class": n,
                      **auto_cell(spec, sources["supervised"], permute=True)})
        say(autos[-1]["cell"], autos[-1]["reason"])
    result = {"data": data, "draws": draws, "threads": args.threads, "source": source_info, "rows": rows, "auto": autos,
              "seconds": round(time.perf_counter() - t_start, 1), "load_average": os.getloadavg(), "machine": machine()}
    if args.json:
        print(json.dumps(result))
        return
    sizes = sorted({r["target_examples_per_class"] for r in rows})
    print("| strategy | " + " | ".join(f"{n}/class" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name in dict.fromkeys(r["strategy"] for r in rows):
        accs = {r["target_examples_per_class"]: r["test_acc"] for r in rows if r["strategy"] == name}
        print(f"| {name} | " + " | ".join(f"{accs[n]:.3f}" for n in sizes) + " |")
    for r in rows:
        print(f"{r['target_examples_per_class']}/class {r['strategy']}: per draw {r['per_draw']}")
    for a in autos:
        print(f"auto, {a['target']}, {a['target_examples_per_class']}/class: {a['strategy']} ({a['cell']}; "
              f"distance {a['distance']:.3f}, probe gain over random features {a['gain']:+.3f})")
    print(f"{result['seconds']} s, load average {result['load_average']}")


if __name__ == "__main__":
    guarded(main)
