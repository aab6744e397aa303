"""Lab: activation functions (CS231n, Training Neural Networks I, "Activation functions").

Two experiments on real data, both through the project's own training path (spec -> build -> Trainer):

1. **Training speed per activation.** The same 4-layer ConvNet (3 conv layers, 32 channels each,
   ``conv3 -> act -> maxpool2``, then one fc; no batch norm, so the nonlinearity alone decides)
   is trained with SGD + momentum 0.9 at one fixed learning rate (constant, no weight decay, no
   label smoothing, no augmentation) once per activation, from the same seed. Each activation
   gets the init family derived for it (:data:`INIT_FOR`): Xavier ``N(0, 1/fan_avg)`` for the
   symmetric, saturating sigmoid/tanh and for maxout, LeCun ``N(0, 1/n_in)`` for SELU, He
   ``N(0, 2/n_in)`` for the ReLU family. Measured: the first epoch whose *training* accuracy
   (running accuracy over the epoch, as metrics.jsonl's ``train_acc``) reaches ``target_acc``.
   Krizhevsky et al. (2012, Fig. 1): a 4-layer CNN with ReLUs reached 25% training error on
   CIFAR-10 six times faster than with tanh units, hence the default target 0.75 and
   ``relu_vs_tanh_speedup = epochs_to_target(tanh) / epochs_to_target(relu)``.

2. **Dead ReLUs vs the learning rate.** An MLP (256-256 ReLU, He init, no batch norm) is trained
   briefly at each learning rate of a log-spaced grid; a unit is *dead* when it outputs no
   positive value on any example of the held-out validation set (eval mode) — the doctor's
   definition (:class:`babysitter.doctor.instruments.Activations`) on a held-out batch::

       dead_fraction = (1 / U) * sum_u [ max_n a_u(x_n) <= 0 ]      over all U ReLU units

   (a conv channel counts as one unit, positive if any position is.) A run whose loss became
   non-finite reports ``dead_fraction: null`` and ``diverged: true``.

Summary (``summary.json``, what ``--json`` prints)::

    {"dataset", "target_acc", "lr", "epochs",
     "runs": [{"activation", "init", "epochs_to_target": int | null, "curve": [train_acc per epoch],
               "val_curve": [...], "test_acc"}],
     "relu_vs_tanh_speedup": float | null,
     "dead_relu": [{"lr", "dead_fraction": float | null, "diverged": bool}],
     "claims": [{"claim", "measured", "holds": bool}], "plots": [paths]}
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from babysitter.data import load_data
from babysitter.doctor.instruments import activation_kind
from babysitter.errors import BadInput
from babysitter.lab.common import base_spec, fit, lab_dataset, lab_dir, save_summary, steps
from babysitter.nn.activations import ACTIVATIONS
from babysitter.spec import load_spec, override

DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout")
INIT_FOR = {"sigmoid": "xavier", "tanh": "xavier", "maxout": "xavier", "selu": "lecun"}  # else he
DEAD_LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
DATASETS = {  # real data, sized to run in about a minute on 2 cores
    "mnist1d": {"source": "mnist1d"},                                   # 3600 train / 400 val, (N, 40)
    "digits": {"source": "digits"},                                     # 1797 8x8 images
    "fashion-mnist": {"source": "fashion-mnist", "subset": 4000, "val_fraction": 0.02},
}


@torch.no_grad()
def dead_fraction(model: nn.Module, x: torch.Tensor) -> float | None:
    """Fraction of ReLU units never positive on any example of ``x: (N, ...)`` (eval mode);
    None if the activations are not finite (a diverged net)."""
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o))
             for m in model.modules() if activation_kind(m) == "relu"]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(x.to(device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    if not outputs:
        raise BadInput("dead_fraction: the model has no ReLU modules")
    if not all(torch.isfinite(a).all() for a in outputs):
        return None
    alive = [(a.amax(dim=tuple(range(2, a.ndim))) if a.ndim > 2 else a).amax(0) > 0 for a in outputs]  # (C,) each
    return 1.0 - torch.cat(alive).float().mean().item()


def epochs_to_target(curve: list[float], target: float) -> int | None:
    """The first epoch (1-based) whose value reaches ``target``; None if none does."""
    return next((e for e, acc in enumerate(curve, 1) if acc >= target), None)


def run(out: str | Path | None = None, progress: bool = True, *, force: bool = False, seed: int = 0,
        epochs: int = 20, dataset: str = "mnist1d", activations=DEFAULT_ACTIVATIONS, target_acc: float = 0.75,
        lr: float = 0.02, dead_lrs=DEAD_LRS, dead_epochs: int = 3, hidden=(32, 32, 32), subset: int | None = None) -> dict:
    """Run both experiments; write activations.png, dead_relu.png and summary.json to ``out``."""
    unknown = [a for a in activations if a not in ACTIVATIONS]
    if unknown:
        raise BadInput(f"unknown activation '{unknown[0]}'; valid: {', '.join(ACTIVATIONS)}")
    if not 0.0 < target_acc <= 1.0:
        raise BadInput(f"target accuracy must be in (0, 1], got {target_acc}")
    data_spec = lab_dataset(dataset, DATASETS, **({"subset": subset} if subset else {}))
    cnn = base_spec(data_spec, seed, epochs, lr, kind="cnn", hidden=list(hidden), convs=1)
    mlp = base_spec(data_spec, seed, dead_epochs, lr, kind="mlp", hidden=[256, 256], activation="relu", init="he")
    specs = [override(load_spec(cnn), **{"model.activation": a, "model.init": INIT_FOR.get(a, "he")}) for a in activations]
    dead_specs = [override(load_spec(mlp), **{"optim.lr": r}) for r in dead_lrs]
    out = lab_dir(out, "activations", force)
    data = load_data(specs[0].data, seed) if specs else load_data(dead_specs[0].data, seed)
    runs, dead = [], []
    with steps(len(specs) + len(dead_specs), "lab activations", progress) as advance:
        for spec in specs:
            trainer, _ = fit(spec, data)
            rows = trainer.history.rows
            curve = [r["train_acc"] for r in rows]
            runs.append({"activation": spec.model.activation, "init": spec.model.init,
                         "epochs_to_target": epochs_to_target(curve, target_acc), "curve": curve,
                         "val_curve": [r["val_acc"] for r in rows],
                         "test_acc": trainer.evaluate(data.x_test, data.y_test)[1]})
            advance(spec.model.activation)
        for spec in dead_specs:
            trainer, diverged = fit(spec, data)
            frac = dead_fraction(trainer.model, data.x_val)
            dead.append({"lr": spec.optim.lr, "dead_fraction": frac, "diverged": diverged or frac is None})
            advance(f"relu lr {spec.optim.lr:g}")
    by = {r["activation"]: r["epochs_to_target"] for r in runs}
    speedup = by["tanh"] / by["relu"] if by.get("tanh") and by.get("relu") else None
    summary = {"dataset": dataset, "target_acc": target_acc, "lr": lr, "epochs": epochs, "runs": runs,
               "relu_vs_tanh_speedup": speedup, "dead_relu": dead,
               "claims": claims(by, speedup, dead, epochs, target_acc)}
    summary["plots"] = [str(p) for p in plot(out, summary)]
    return save_summary(out, summary)


def claims(by: dict, speedup: float | None, dead: list[dict], epochs: int, target: float) -> list[dict]:
    """The lecture's claims against the measurements (only those the runs can test)."""
    out = []
    if "relu" in by and "tanh" in by:
        relu, tanh = by["relu"], by["tanh"]
        if speedup is not None:
            measured = f"relu reached {target:.0%} train acc in {relu} epochs, tanh in {tanh}: {speedup:.2g}x"
        elif relu is not None:
            measured = f"relu reached {target:.0%} train acc in {relu} epochs, tanh not within {epochs} (> {epochs / relu:.2g}x)"
        else:
            measured = f"relu did not reach {target:.0%} train acc within {epochs} epochs (tanh: {tanh})"
        faster = relu is not None and (tanh is None or tanh > relu)
        out.append({"claim": "ReLU converges faster than tanh", "measured": measured, "holds": faster})
        ratio = speedup if speedup is not None else (epochs / relu if faster else 0.0)  # a lower bound if tanh never got there
        out.append({"claim": "ReLU reaches the target ~6x faster than tanh (Krizhevsky et al. 2012; "
                             "holds if >= 3x, within a factor 2)", "measured": measured,
                    "holds": bool(faster and ratio >= 3.0)})
    if "sigmoid" in by and len(by) > 1:
        others = [e for a, e in by.items() if a != "sigmoid"]
        sig = by["sigmoid"]
        slowest = sig is None or all(e is not None and e <= sig for e in others)
        out.append({"claim": "sigmoid trains slowest (saturation kills gradients; outputs not zero-centred)",
                    "measured": f"epochs to {target:.0%}: " + ", ".join(f"{a} {e if e is not None else f'>{epochs}'}"
                                                                         for a, e in by.items()),
                    "holds": slowest})
    finite = [d for d in dead if d["dead_fraction"] is not None]
    if len(finite) >= 2:
        low, high = finite[0], max(finite, key=lambda d: d["dead_fraction"])
        out.append({"claim": "a too-high learning rate kills ReLUs (units that never activate again)",
                    "measured": f"dead fraction {low['dead_fraction']:.0%} at lr {low['lr']:g}, "
                                f"{high['dead_fraction']:.0%} at lr {high['lr']:g}",
                    "holds": high["lr"] > low["lr"] and high["dead_fraction"] >= low["dead_fraction"] + 0.1})
    return out


def plot(out: Path, summary: dict) -> list[Path]:
    """activations.png: training accuracy per epoch per activation (with the target line);
    dead_relu.png: dead-ReLU fraction against the learning rate (log axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in summary["runs"]:
        ax.plot(range(1, len(r["curve"]) + 1), r["curve"], "-o", ms=3, label=f"{r['activation']} ({r['init']})")
    ax.axhline(summary["target_acc"], color="black", ls="--", lw=1, label=f"target {summary['target_acc']:.0%}")
    ax.set(xlabel="epoch", ylabel="training accuracy",
           title=f"{summary['dataset']}: 4-layer CNN, SGD+momentum lr {summary['lr']:g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    curves = out / "activations.png"
    fig.savefig(curves, dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    pts = [(d["lr"], d["dead_fraction"]) for d in summary["dead_relu"] if d["dead_fraction"] is not None]
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color="tab:red")
    for d in summary["dead_relu"]:
        if d["dead_fraction"] is None:
            ax.axvline(d["lr"], color="gray", ls=":", lw=1)
    ax.set(xscale="log", xlabel="learning rate", ylabel="dead ReLU fraction (held-out set)", ylim=(-0.02, 1.02),
           title="dead ReLUs vs learning rate (dotted: diverged)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    dead = out / "dead_relu.png"
    fig.savefig(dead, dpi=110)
    plt.close(fig)
    return [curves, dead]
