"""Plots of a run dir (matplotlib, Agg): the curves people look at before they read numbers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from babysitter.train.history import History  # noqa: E402


def plot_curves(run_dir: str | Path) -> Path:
    """curves.png: train/val loss, train/val accuracy and the learning rate against epochs."""
    run_dir = Path(run_dir)
    rows = History.read(run_dir / "metrics.jsonl")
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        ax.plot(epochs, [r[f"train_{key}"] for r in rows], "o-", ms=3, label="train")
        ax.plot(epochs, [r[f"val_{key}"] for r in rows], "o-", ms=3, label="val")
        ax.set(xlabel="epoch", ylabel=label, title=label)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")
    axes[2].plot(epochs, [r["lr"] for r in rows], "o-", ms=3, color="tab:green")
    axes[2].set(xlabel="epoch", ylabel="lr (start of epoch)", title="learning rate")
    axes[2].grid(alpha=0.3)
    fig.tight_layout()
    path = run_dir / "curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
