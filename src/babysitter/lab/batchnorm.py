"""Lab: batch normalization (CS231n, Training Neural Networks I, "Batch Normalization").

The lecture's claims (Ioffe & Szegedy 2015): with BN a net depends less on its initialisation and
trains at higher learning rates. BN normalises each unit over the batch, then scales and shifts:

    x_hat = (x - mu_B) / sqrt(var_B + eps),   y = gamma * x_hat + beta      x: (N, D)

The grid: the same MLP (4 hidden layers of 128 ReLUs; ``fc -> [bn] -> relu``) with ``model.norm``
none / batch x ``inits`` (default small N(0, 0.01^2), Xavier N(0, 1/fan_avg), He N(0, 2/n_in)) x
``lrs`` (SGD + momentum 0.9, constant lr, no weight decay), same seed and data, ``epochs`` each.
A run whose loss became non-finite counts as ``val_acc: 0`` with ``diverged: true``.

A run *trains* when its final val accuracy is at least halfway from chance (1/C) to the best run
of the grid. Per norm: ``spread`` = mean over lrs of (max - min val acc across inits) and
``highest_lr`` per init = the highest lr at which that init trains (null: none).

Summary (``summary.json``, what ``--json`` prints)::

    {"dataset", "epochs", "lrs", "inits", "trains_above",
     "runs": [{"norm", "init", "lr", "val_acc", "diverged"}],
     "spread": {"none": float, "batch": float},
     "highest_lr": {"none": {init: lr | null}, "batch": {...}},
     "claims": [{"claim", "measured", "holds": bool}], "plots": [paths]}
"""

from __future__ import annotations

from pathlib import Path

from babysitter.data import load_data
from babysitter.errors import BadInput
from babysitter.lab.common import base_spec, fit, lab_dataset, lab_dir, save_summary, steps
from babysitter.nn.init import INITS
from babysitter.spec import load_spec, override

DATASETS = {
    "mnist1d": {"source": "mnist1d"},
    "digits": {"source": "digits"},
    "fashion-mnist": {"source": "fashion-mnist", "subset": 4000, "val_fraction": 0.02},
}
NORMS = ("none", "batch")


def run(out: str | Path | None = None, progress: bool = True, *, force: bool = False, seed: int = 0,
        epochs: int = 8, dataset: str = "mnist1d", lrs=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0), inits=("small", "xavier", "he"),
        hidden=(128, 128, 128, 128)) -> dict:
    """Train the norm x init x lr grid; write batchnorm.png (heatmaps) and summary.json."""
    unknown = [i for i in inits if i not in INITS]
    if unknown:
        raise BadInput(f"unknown init '{unknown[0]}'; valid: {', '.join(INITS)}")
    if not lrs or any(lr <= 0 for lr in lrs):
        raise BadInput(f"learning rates must be positive, got {list(lrs)}")
    lrs = sorted(lrs)
    base = load_spec(base_spec(lab_dataset(dataset, DATASETS), seed, epochs, lrs[0], kind="mlp",
                               hidden=list(hidden), activation="relu"))
    grid = [(norm, init, lr) for norm in NORMS for init in inits for lr in lrs]
    out = lab_dir(out, "batchnorm", force)
    data = load_data(base.data, seed)
    runs = []
    with steps(len(grid), "lab batchnorm", progress) as advance:
        for norm, init, lr in grid:
            spec = override(base, **{"model.norm": norm, "model.init": init, "optim.lr": lr})
            trainer, diverged = fit(spec, data)
            val_acc = 0.0 if diverged else trainer.history.rows[-1]["val_acc"]
            runs.append({"norm": norm, "init": init, "lr": lr, "val_acc": val_acc, "diverged": diverged})
            advance(f"{norm} {init} lr {lr:g}")
    trains_above = (1.0 / data.num_classes + max(r["val_acc"] for r in runs)) / 2
    summary = {"dataset": dataset, "epochs": epochs, "lrs": lrs, "inits": list(inits),
               "trains_above": trains_above, "runs": runs,
               "spread": {n: spread(runs, n, lrs) for n in NORMS},
               "highest_lr": {n: {i: highest_lr(runs, n, i, trains_above) for i in inits} for n in NORMS}}
    summary["claims"] = claims(summary)
    summary["plots"] = [str(plot(out, summary))]
    return save_summary(out, summary)


def spread(runs: list[dict], norm: str, lrs) -> float:
    """Mean over ``lrs`` of (max - min) val accuracy across inits, for ``norm``."""
    ranges = []
    for lr in lrs:
        accs = [r["val_acc"] for r in runs if r["norm"] == norm and r["lr"] == lr]
        ranges.append(max(accs) - min(accs))
    return sum(ranges) / len(ranges)


def highest_lr(runs: list[dict], norm: str, init: str, trains_above: float) -> float | None:
    """The highest lr at which (norm, init) reaches ``trains_above`` val accuracy; None if none does."""
    ok = [r["lr"] for r in runs if r["norm"] == norm and r["init"] == init and r["val_acc"] >= trains_above]
    return max(ok) if ok else None


def claims(s: dict) -> list[dict]:
    """BN: smaller spread across inits; for every init at least as high a trainable lr (higher for one)."""
    sp, hi = s["spread"], s["highest_lr"]
    none, batch = ([hi[n][i] or 0.0 for i in s["inits"]] for n in NORMS)
    fmt = lambda n: ", ".join(f"{i} {hi[n][i]:g}" if hi[n][i] else f"{i} none" for i in s["inits"])  # noqa: E731
    return [
        {"claim": "with batch norm the result depends less on the initialisation",
         "measured": f"mean range of val acc across inits: {sp['batch']:.3f} with BN, {sp['none']:.3f} without",
         "holds": sp["batch"] < sp["none"]},
        {"claim": "with batch norm the net trains at higher learning rates",
         "measured": f"highest lr that trains (val acc >= {s['trains_above']:.2f}) per init: "
                     f"BN {fmt('batch')}; no BN {fmt('none')}",
         "holds": all(b >= n for b, n in zip(batch, none)) and any(b > n for b, n in zip(batch, none))},
    ]


def plot(out: Path, s: dict) -> Path:
    """batchnorm.png: final val accuracy heatmaps (init x lr), without and with batch norm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.2 * len(s["lrs"]) * 2, 1.2 + 0.6 * len(s["inits"])), squeeze=False)
    for ax, norm in zip(axes[0], NORMS):
        cell = {(r["init"], r["lr"]): r for r in s["runs"] if r["norm"] == norm}
        acc = [[cell[i, lr]["val_acc"] for lr in s["lrs"]] for i in s["inits"]]
        im = ax.imshow(acc, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        for y, i in enumerate(s["inits"]):
            for x, lr in enumerate(s["lrs"]):
                v = cell[i, lr]["val_acc"]
                ax.text(x, y, "diverged" if cell[i, lr]["diverged"] else f"{v:.2f}", ha="center", va="center",
                        color="white" if v < 0.6 else "black", fontsize=8)
        ax.set(xticks=range(len(s["lrs"])), xticklabels=[f"{lr:g}" for lr in s["lrs"]], yticks=range(len(s["inits"])),
               yticklabels=s["inits"], xlabel="learning rate", title=f"norm: {norm} (spread {s['spread'][norm]:.2f})")
    fig.colorbar(im, ax=axes[0].tolist(), label="final val accuracy")
    fig.suptitle(f"{s['dataset']}: batch norm x init x lr ({s['epochs']} epochs each)", fontsize=10, y=1.06)
    path = out / "batchnorm.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
