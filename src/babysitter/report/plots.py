"""Plots of a run dir (matplotlib, Agg): the curves people look at before they read numbers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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
        epochs = [r["epoch"] for r in rows]
        tag = f" {path.parent.name}" if len(files) > 1 else ""
        for ax, key in ((axes[0], "loss"), (axes[1], "acc")):
            ax.plot(epochs, [r[f"train_{key}"] for r in rows], "-", color="tab:blue", alpha=1 / (1 + n), label="train" + tag)
            ax.plot(epochs, [r[f"val_{key}"] for r in rows], "-", color="tab:orange", alpha=1 / (1 + n), label="val" + tag)
        axes[2].plot(epochs, [r["lr"] for r in rows], "-", color="tab:green", alpha=1 / (1 + n))
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
