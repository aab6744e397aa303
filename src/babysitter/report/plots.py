"""Plots of a run dir (matplotlib, Agg): the curves people look at before they read numbers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from babysitter.errors import BadInput  # noqa: E402
from babysitter.files import read_json  # noqa: E402
from babysitter.train.history import History  # noqa: E402


def plot_curves(run_dir: str | Path) -> Path:
    """curves.png: train/val loss, train/val accuracy and the learning rate against epochs
    (one line per member for an independent ensemble)."""
    run_dir = Path(run_dir)
    files = [run_dir / "metrics.jsonl"] if (run_dir / "metrics.jsonl").exists() else \
        sorted(run_dir.glob("members/*/metrics.jsonl"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for n, path in enumerate(files):
        rows = History.read(path)
        col = lambda key: [float("nan") if r.get(key) is None else r[key] for r in rows]  # noqa: E731  (null: not finite)
        if any("epoch" not in r for r in rows):
            plt.close(fig)
            raise BadInput(f"metrics {path}: a row has no 'epoch'; the file is damaged")
        epochs = col("epoch")
        tag = f" {path.parent.name}" if len(files) > 1 else ""
        for ax, key in ((axes[0], "loss"), (axes[1], "acc")):
            ax.plot(epochs, col(f"train_{key}"), "-", color="tab:blue", alpha=1 / (1 + n), label="train" + tag)
            ax.plot(epochs, col(f"val_{key}"), "-", color="tab:orange", alpha=1 / (1 + n), label="val" + tag)
        axes[2].plot(epochs, col("lr"), "-", color="tab:green", alpha=1 / (1 + n))
    for ax, title in zip(axes, ("loss", "accuracy", "learning rate (start of epoch)")):
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = run_dir / "curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_instruments(run_dir: str | Path) -> Path | None:
    """instruments.png from doctor.json: the loss trace, update/weight ratio per layer (with the
    lecture's 1e-3 line), gradient norm per layer, and activation std / dead or saturated fraction."""
    run_dir = Path(run_dir)
    if not (run_dir / "doctor.json").exists():
        return None
    d = read_json(run_dir / "doctor.json", "doctor")
    try:
        return _draw_instruments(run_dir, d)
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as e:
        plt.close("all")
        raise BadInput(f"doctor {run_dir / 'doctor.json'} holds values of the wrong type ({type(e).__name__}: {e}); "
                       f"the file is damaged") from None


def _draw_instruments(run_dir: Path, d: dict) -> Path:
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    trace = d.get("LossTrace", {})
    if trace.get("steps"):
        nan = float("nan")  # non-finite values are stored as null
        mean = [nan if m is None else m for m in trace["mean"]]
        std = [nan if v is None else v for v in trace["std"]]
        axes[0].plot(trace["steps"], mean, "-", color="tab:blue", label="window mean")
        axes[0].fill_between(trace["steps"], [m - v for m, v in zip(mean, std)], [m + v for m, v in zip(mean, std)],
                             alpha=0.2, color="tab:blue")
        axes[0].set(title="training loss (every step, windowed)", xlabel="step")
    for ax, key, field, title in ((axes[1], "UpdateRatio", "ratio", "update / weight  ||dW|| / ||W||"),
                                  (axes[2], "GradNorms", "norm", "gradient norm per layer")):
        inst = d.get(key, {})
        for layer in inst.get("layers", []):
            ys = [float("nan") if y is None else y for y in inst[field][layer]]
            ax.plot(inst["steps"][:len(ys)], ys, "-", label=layer)
        ax.set(title=title, xlabel="step", yscale="log")
        if key == "UpdateRatio":
            ax.axhline(1e-3, color="black", ls="--", lw=1, label="~1e-3 (lecture)")
        ax.legend(fontsize=6)
    acts = d.get("Activations", {})
    for layer in acts.get("layers", []):
        stds = [float("nan") if v is None else v for v in acts["std"][layer]]
        axes[3].plot(acts["steps"][:len(stds)], stds, "-", label=f"{layer} std")
        bad = acts["dead"][layer] if acts["kinds"].get(layer) in ("relu", "leaky_relu", "prelu", "elu", "selu") \
            else acts["saturated"][layer]
        if any(v for v in bad if v):
            axes[3].plot(acts["steps"][:len(bad)], [float("nan") if v is None else v for v in bad], ":",
                         label=f"{layer} dead/saturated")
    axes[3].set(title="activations: std, dead / saturated fraction", xlabel="step")
    axes[3].legend(fontsize=6)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = run_dir / "instruments.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_before_after(before_dir: str | Path, after_dir: str | Path, path: str | Path) -> Path:
    """treat.png (``babysit treat``): validation accuracy and training loss per epoch of the
    original spec (grey) and the treated one (green), same seed. A run dir that is the same
    (the spec came back unchanged) is drawn once."""
    before_dir, after_dir, path = Path(before_dir), Path(after_dir), Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    runs = [(before_dir, "original", "tab:gray")] + ([(after_dir, "treated", "tab:green")] if after_dir != before_dir else [])
    for run_dir, label, colour in runs:
        rows = History.read(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
        epochs = [r["epoch"] for r in rows]
        axes[0].plot(epochs, [r["train_loss"] for r in rows], "-", color=colour, label=label)
        axes[1].plot(epochs, [r["val_acc"] for r in rows], "-", color=colour, label=label)
    for ax, title in zip(axes, ("training loss", "validation accuracy")):
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
