"""Lab: regularization (CS231n, Training Neural Networks I & II, "Regularization").

A small-data task (the first ``train_examples`` training examples of a real dataset; the full
validation and test splits) trained long enough for the unregularised net to overfit, once per
variant, same seed, same data, same SGD + momentum recipe (constant lr, no weight decay, no label
smoothing, so the variant is the only regulariser):

==================  ==========================================================  ==============
variant             what changes (spec keys)                                     baseline
==================  ==========================================================  ==============
none                MLP 256-256 ReLU, He init, ``model.norm: none``              —
l2                  ``regularize.l2``: R(W) = l2 * sum W^2                       none
dropout             ``model.dropout: p`` (inverted: y = x * m / (1 - p))         none
dropconnect         ``model.dropout_kind: dropconnect`` (drop weights, p)        none
augmentation        ``data.augment`` (mnist1d: shift:4; images: flip, crop:2)    none
batch_norm          ``model.norm: batch`` (the only variant with batch norm)     none
resnet              ResNet 16-32 (4 residual blocks), ``model.norm: none``       —
stochastic_depth    resnet + ``model.stochastic_depth``: p_l = 1 - l/L (1 - p_L)  resnet
==================  ==========================================================  ==============

Stochastic depth needs residual blocks, so it is compared with the same ResNet without it.
``train_acc`` is measured in eval mode on the training examples after each epoch (not the running
accuracy with dropout/augmentation active), so it is comparable across variants;
``val_acc`` is the last epoch's, ``gap = train_acc - val_acc`` (the lecture's overfitting gap).

Summary (``summary.json``, what ``--json`` prints)::

    {"dataset", "train_examples", "epochs",
     "runs": [{"variant", "baseline": str | null, "train_acc", "val_acc", "gap", "test_acc",
               "train_curve": [...], "val_curve": [...]}],
     "claims": [{"claim", "measured", "holds": bool}], "plots": [paths]}
"""

from __future__ import annotations

from pathlib import Path

from babysitter.data import load_data
from babysitter.errors import BadInput, TrainingFailed
from babysitter.lab.common import base_spec, fit, lab_dataset, lab_dir, save_summary, steps
from babysitter.spec import load_spec, override
from babysitter.train.events import Callback

DATASETS = {
    "mnist1d": {"source": "mnist1d"},
    "digits": {"source": "digits"},
    "fashion-mnist": {"source": "fashion-mnist", "val_fraction": 0.02},
}
AUGMENT = {"mnist1d": ["shift:4"], "digits": ["shift:1"], "fashion-mnist": ["flip", "crop:2"]}
RESNET = {"model.kind": "resnet", "model.hidden": [16, 32]}


def variants(dataset: str, l2: float, dropout: float, stochastic_depth: float) -> dict[str, tuple[dict, str | None]]:
    """``{variant: (spec overrides, baseline variant)}`` in the order of the table above."""
    return {
        "none": ({}, None),
        "l2": ({"regularize.l2": l2}, "none"),
        "dropout": ({"model.dropout": dropout}, "none"),
        "dropconnect": ({"model.dropout": dropout, "model.dropout_kind": "dropconnect"}, "none"),
        "augmentation": ({"data.augment": AUGMENT[dataset]}, "none"),
        "batch_norm": ({"model.norm": "batch"}, "none"),
        "resnet": (RESNET, None),
        "stochastic_depth": ({**RESNET, "model.stochastic_depth": stochastic_depth}, "resnet"),
    }


class TrainAccuracy(Callback):
    """After each epoch: accuracy on the training examples in eval mode (no dropout, no augmentation)."""

    def __init__(self):
        self.curve: list[float] = []

    def after_epoch(self, trainer):
        self.curve.append(trainer.evaluate(trainer.data.x_train, trainer.data.y_train)[1])


def run(out: str | Path | None = None, progress: bool = True, *, force: bool = False, seed: int = 0,
        epochs: int = 60, dataset: str = "mnist1d", train_examples: int = 500, lr: float = 0.02,
        l2: float = 5e-3, dropout: float = 0.5, stochastic_depth: float = 0.5, only=None) -> dict:
    """Train every variant (or those named in ``only``); write regularization.png and summary.json."""
    data_spec = lab_dataset(dataset, DATASETS, subset=train_examples)
    table = variants(dataset, l2, dropout, stochastic_depth)
    chosen = list(only) if only else list(table)
    unknown = [v for v in chosen if v not in table]
    if unknown:
        raise BadInput(f"unknown variant '{unknown[0]}'; valid: {', '.join(table)}")
    chosen += [table[v][1] for v in chosen if table[v][1] and table[v][1] not in chosen]  # baselines run too
    chosen = [v for v in table if v in chosen]
    base = load_spec(base_spec(data_spec, seed, epochs, lr, kind="mlp", hidden=[256, 256], activation="relu", init="he"))
    specs = {v: override(base, **table[v][0]) for v in chosen}
    out = lab_dir(out, "regularization", force)
    data = load_data(base.data, seed)
    runs = []
    with steps(len(specs), "lab regularization", progress) as advance:
        for variant, spec in specs.items():
            clean = TrainAccuracy()
            trainer, diverged = fit(spec, data, callbacks=[clean])
            if diverged:
                raise TrainingFailed(f"lab regularization: variant {variant} diverged: {trainer.stop_reason}")
            rows = trainer.history.rows
            train_acc, val_acc = clean.curve[-1], rows[-1]["val_acc"]
            runs.append({"variant": variant, "baseline": table[variant][1], "train_acc": train_acc,
                         "val_acc": val_acc, "gap": train_acc - val_acc,
                         "test_acc": trainer.evaluate(data.x_test, data.y_test)[1],
                         "train_curve": clean.curve, "val_curve": [r["val_acc"] for r in rows]})
            advance(variant)
    summary = {"dataset": dataset, "train_examples": len(data.x_train), "epochs": epochs, "runs": runs,
               "claims": claims(runs)}
    summary["plots"] = [str(plot(out, summary))]
    return save_summary(out, summary)


def claims(runs: list[dict]) -> list[dict]:
    """Overfitting without regularisation, and per variant: does it narrow its baseline's gap and
    raise its val accuracy (a gap closed by underfitting is not what the lecture promises)?"""
    by = {r["variant"]: r for r in runs}
    out = []
    if "none" in by:
        r = by["none"]
        out.append({"claim": "without regularisation the net overfits the small training set (gap > 0.1)",
                    "measured": f"train {r['train_acc']:.3f}, val {r['val_acc']:.3f}, gap {r['gap']:.3f}",
                    "holds": r["gap"] > 0.1})
    for r in runs:
        b = by.get(r["baseline"])
        if b is None:
            continue
        out.append({"claim": f"{r['variant']} narrows the train-val gap of {b['variant']} and raises its val accuracy",
                    "measured": f"gap {b['gap']:.3f} -> {r['gap']:.3f}; val acc {b['val_acc']:.3f} -> {r['val_acc']:.3f}",
                    "holds": r["gap"] < b["gap"] and r["val_acc"] > b["val_acc"]})
    return out


def plot(out: Path, summary: dict) -> Path:
    """regularization.png: small multiples, train (eval mode) and val accuracy per epoch per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = summary["runs"]
    cols = min(4, len(runs))
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.8 * rows), sharey=True, squeeze=False)
    for ax, r in zip(axes.flat, runs):
        epochs = range(1, len(r["train_curve"]) + 1)
        ax.plot(epochs, r["train_curve"], "-", color="tab:blue", label="train")
        ax.plot(epochs, r["val_curve"], "-", color="tab:orange", label="val")
        ax.set_title(f"{r['variant']}: gap {r['gap']:.2f}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{summary['dataset']}, {summary['train_examples']} training examples: train vs val accuracy", fontsize=10)
    fig.supxlabel("epoch", fontsize=9)
    fig.tight_layout()
    path = out / "regularization.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
