"""Lecture 6's activation-statistics experiment (CS231n, Training Neural Networks I: weight init).

A 10-layer net of 500 units, no biases, on 1000 inputs drawn from N(0, 1):

    x_0 ~ N(0, 1)  (1000, 500);      h_l = f(x_{l-1} W_l),  W_l (500, 500),  l = 1..10

for the inits of the lecture (from ``babysitter.nn.init.INITS``; for these square layers fan_avg =
fan_in, so the registry's xavier is the lecture's ``randn / sqrt(fan_in)``)

    small   W = 0.01 randn          normal  W = randn (std 1)
    xavier  W = randn / sqrt(fan_in)          he      W = randn / sqrt(fan_in / 2)

and f = tanh or relu (``babysitter.nn.activations.ACTIVATIONS``). Per layer: the mean and std of
h_l over all 1000 x 500 values, and the ``saturated`` fraction: |h| > 0.99 for tanh (units in the
flat tails, gradient ~ 0), h == 0 exactly for relu (units that pass no gradient).

The lecture's claims, checked on the measured numbers (:func:`check_claims`): small/tanh collapses
to zero, normal/tanh saturates, xavier/tanh stays alive, he/relu keeps its scale, xavier/relu shrinks it
(each relu layer halves the variance under xavier: std x 2^-1/2 per layer).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from babysitter.errors import BadInput
from babysitter.lab.common import lab_dir, save_summary, steps
from babysitter.nn.activations import ACTIVATIONS
from babysitter.nn.init import INITS, initialize

LECTURE_INITS = ("small", "normal", "xavier", "he")
LECTURE_ACTIVATIONS = ("tanh", "relu")
SATURATION = {   # what "a unit that passes no gradient" means for each activation
    "tanh": ("|a| > 0.99", lambda a: a.abs() > 0.99),
    "relu": ("a == 0", lambda a: a == 0),
}


def deep_net(init: str, activation: str, layers: int = 10, width: int = 500) -> nn.Sequential:
    """``layers`` x [Linear(width, width, bias=False), activation], weights from INITS[init]."""
    if init not in INITS:
        raise BadInput(f"init-stats: unknown init '{init}' (valid: {', '.join(INITS)})")
    if activation not in SATURATION:
        raise BadInput(f"init-stats: no saturation measure for '{activation}' (valid: {', '.join(SATURATION)})")
    blocks = []
    for _ in range(layers):
        blocks += [nn.Linear(width, width, bias=False), ACTIVATIONS[activation](width)]
    return initialize(nn.Sequential(*blocks), init)


@torch.no_grad()
def layer_activations(net: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """h_1 .. h_L: the output of every activation module of ``net`` on ``x`` (N, D), each (N, width)."""
    hs = []
    for module in net:
        x = module(x)
        if not isinstance(module, nn.Linear):
            hs.append(x)
    return hs


def layer_stats(h: torch.Tensor, activation: str) -> dict:
    """{"mean", "std", "saturated"} of one layer's activations h (N, width), over all N*width values."""
    saturated = SATURATION[activation][1](h)
    return {"mean": h.mean().item(), "std": h.std().item(), "saturated": saturated.double().mean().item()}


def experiment(init: str, activation: str, seed: int = 0, layers: int = 10, width: int = 500,
               examples: int = 1000) -> tuple[dict, list[torch.Tensor]]:
    """One run: ({"init", "activation", "layers": [layer_stats per layer]}, the activations).
    The inputs depend on ``seed`` only (every run sees the same x); the weights on seed and run."""
    with torch.random.fork_rng():   # leave the caller's global RNG as it was
        torch.manual_seed(seed)
        x = torch.randn(examples, width)
        torch.manual_seed(seed * 100 + 1 + list(INITS).index(init))
        net = deep_net(init, activation, layers, width)
    hs = layer_activations(net, x)
    return {"init": init, "activation": activation, "layers": [layer_stats(h, activation) for h in hs]}, hs


def histograms(hs: list[torch.Tensor], activation: str, bins: int = 40) -> dict:
    """Counts of every layer's values over one shared range (the row of the lecture's figure):
    [-1, 1] for tanh, [0, max over layers] for relu, so a layer that collapses is seen to. For relu
    only the values > 0 are counted (the exact zeros are the ``saturated`` fraction, shown apart).
    Returns {"edges": (bins+1,), "counts": [(bins,) per layer]} as lists."""
    lo, hi = (-1.0, 1.0) if activation == "tanh" else (min(h.min().item() for h in hs), max(h.max().item() for h in hs))
    hi = hi if hi > lo else lo + 1.0
    edges = torch.linspace(lo, hi, bins + 1)
    return {"edges": edges.tolist(), "counts": [torch.histogram(h[h > 0] if activation == "relu" else h.flatten(), edges).hist.tolist()
                                         for h in hs]}


def _run(runs: list[dict], init: str, activation: str) -> dict:
    return next(r for r in runs if r["init"] == init and r["activation"] == activation)


def _claim(text: str, measured: float, holds: bool) -> dict:
    return {"claim": text, "measured": measured, "holds": bool(holds)}


def check_claims(runs: list[dict]) -> list[dict]:
    """The lecture's five claims, each {"claim", "measured", "holds"}; last = the 10th layer, first = the 1st."""
    def last(i, a, key="std"):
        return _run(runs, i, a)["layers"][-1][key]

    def ratio(i, a):
        layers = _run(runs, i, a)["layers"]
        return layers[-1]["std"] / layers[0]["std"]

    xt_std, xt_sat = last("xavier", "tanh"), last("xavier", "tanh", "saturated")
    he = ratio("he", "relu")
    return [
        _claim("small/tanh collapses: last-layer std < 1e-3", last("small", "tanh"), last("small", "tanh") < 1e-3),
        _claim("normal/tanh saturates: last-layer saturated fraction > 0.5",
               last("normal", "tanh", "saturated"), last("normal", "tanh", "saturated") > 0.5),
        _claim("xavier/tanh stays alive: last-layer std > 0.1 and saturated < 0.1 (measured: std)",
               xt_std, xt_std > 0.1 and xt_sat < 0.1),
        _claim("he/relu keeps its scale: last/first std within 4x (measured: ratio)", he, 0.25 <= he <= 4.0),
        _claim("xavier/relu shrinks: last/first std < 0.1 (measured: ratio)",
               ratio("xavier", "relu"), ratio("xavier", "relu") < 0.1),
    ]


def plot_grid(path: Path, runs: list[dict], hists: list[dict]) -> Path:
    """The lecture's figure, one row per run: mean and std against the layer, then each layer's histogram."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = len(runs[0]["layers"])
    fig, axes = plt.subplots(len(runs), layers + 2, figsize=(1.5 * (layers + 2) + 1, 1.45 * len(runs) + 0.6),
                             squeeze=False)
    for row, (r, hist) in zip(axes, zip(runs, hists)):
        idx = range(1, layers + 1)
        row[0].plot(idx, [layer["mean"] for layer in r["layers"]], "o-", ms=2)
        row[1].semilogy(idx, [max(layer["std"], 1e-30) for layer in r["layers"]], "o-", ms=2, color="tab:red")
        row[1].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        low, high = row[1].get_ylim()
        row[1].set_ylim(min(low, 0.1), max(high, 10.0))   # at least 0.1..10, so a flat std looks flat
        row[0].set_ylabel(f"{r['init']}/{r['activation']}", fontsize=9, fontweight="bold")
        edges = hist["edges"]
        for n, (ax, counts, layer) in enumerate(zip(row[2:], hist["counts"], r["layers"]), 1):
            ax.stairs(counts, edges, fill=True, color="tab:blue")
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            ax.text(0.03, 0.97, f"sat {layer['saturated']:.0%}", transform=ax.transAxes, fontsize=6, va="top")
    for ax, title in zip(axes[0], ["mean", "std (log)"] + [f"layer {n}" for n in range(1, layers + 1)]):
        ax.set_title(title, fontsize=9)
    for ax in axes[:, :2].flat:
        ax.set_xticks([1, layers // 2, layers])
        ax.tick_params(labelsize=6)
    fig.suptitle("activations per layer: 10 x 500 units, 1000 N(0,1) inputs (sat: tanh |a|>0.99, relu a=0; "
                 "relu histograms count a>0)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_std(path: Path, runs: list[dict]) -> Path:
    """std of the activations against the layer, every run on one log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        stds = [max(layer["std"], 1e-30) for layer in r["layers"]]
        ax.semilogy(range(1, len(stds) + 1), stds, "o-" if r["activation"] == "tanh" else "s--", ms=3,
                    label=f"{r['init']}/{r['activation']}")
    ax.set(xlabel="layer", ylabel="std of activations", title="activation std per layer")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(out: str | Path | None = None, progress: bool = True, force: bool = False, seed: int = 0,
        inits=LECTURE_INITS, activations=LECTURE_ACTIVATIONS, layers: int = 10, width: int = 500,
        examples: int = 1000) -> dict:
    """Every init x activation; writes init_stats.png (the lecture's grid), init_stats_std.png and
    summary.json. Returns {"runs": [...], "claims": [...], "plots": [...], "out": ...}."""
    unknown = [i for i in inits if i not in INITS] + [a for a in activations if a not in SATURATION]
    if unknown:
        raise BadInput(f"init-stats: unknown '{unknown[0]}' (inits: {', '.join(INITS)}; "
                       f"activations: {', '.join(SATURATION)})")
    out = lab_dir(out, "init-stats", force)
    runs, hists = [], []
    with steps(len(inits) * len(activations) + 1, "init-stats", progress) as advance:
        for activation in activations:
            for init in inits:
                stats, hs = experiment(init, activation, seed, layers, width, examples)
                runs.append(stats)
                hists.append(histograms(hs, activation))
                advance(f"{init}/{activation}")
        plots = [str(plot_grid(out / "init_stats.png", runs, hists)), str(plot_std(out / "init_stats_std.png", runs))]
        advance("plots")
    everything = all(i in inits for i in LECTURE_INITS) and all(a in activations for a in LECTURE_ACTIVATIONS)
    claims = check_claims(runs) if everything else []
    summary = {"runs": runs, "claims": claims, "seed": seed, "layers": layers, "width": width, "examples": examples,
               "saturated_means": {a: SATURATION[a][0] for a in activations}, "plots": plots, "out": str(out)}
    return save_summary(out, summary)


def table(summary: dict):
    """A rich Table: one row per run, the first and last layer's mean, std and saturated fraction."""
    from rich.table import Table

    t = Table("init", "activation", "std layer 1", "std last", "saturated layer 1", "saturated last",
              title=f"activations of a {summary['layers']}-layer, {summary['width']}-unit net "
                    f"(saturated: {', '.join(f'{a} {m}' for a, m in summary['saturated_means'].items())})")
    for r in summary["runs"]:
        first, last = r["layers"][0], r["layers"][-1]
        t.add_row(r["init"], r["activation"], f"{first['std']:.3g}", f"{last['std']:.3g}",
                  f"{first['saturated']:.1%}", f"{last['saturated']:.1%}")
    return t
