"""The lecture's optimizer race on 2-D problems (CS231n, Training Neural Networks II: optimization).

Every optimizer is the project's own (``babysitter.optim.optimizers.OPTIMIZERS``) stepping one
2-D parameter ``x = (x1, x2)``. Each problem has minimum loss 0, so the loss IS the gap to the
minimum, and a tolerance ``tol``: ``steps_to_tol`` is the first step count t with f(x_t) < tol
(null if never within ``max_steps``).

quadratic   f = 1/2 (x - x*)^T A (x - x*) = 1/2 x^T A x + b^T x + c,  A = diag(1, 100),
            x* = -A^-1 b = (1, 1), c = 1/2 b^T A^-1 b; condition number 100 (the lecture's
            "taco shell": steep in x2, shallow in x1). start (-4, 1.5), tol 1e-6
saddle      f = x1^2 + (x2^2 - 1)^2 / 4: a saddle at (0, 0) (f = 1/4, Hessian diag(2, -1)) between
            minima at (0, +-1). start (1.5, 1e-3), next to the saddle's ridge. The escape measure:
            f < tol = 1e-3 means the run left the saddle AND settled in a minimum.
rosenbrock  f = (1 - x1)^2 + 100 (x2 - x1^2)^2, minimum (1, 1), the curved valley. start (-1.2, 1),
            tol 1e-6
noisy       the quadratic with noisy gradients: every evaluation adds n^T x, n ~ N(0, sigma^2 I),
            sigma = 1, fresh per evaluation (seeded): the gradient is g + n, the Hessian is exact.
            steps_to_tol: the first t where the TRUE loss averaged over steps t-19..t is < tol = 1e-2
            (one lucky step is not convergence; 1e-2 is above the noise floor of a small constant step)

Learning rates: no optimizer gets a hand-picked rate. First-order methods (sgd ... adamax) run the
whole grid ``LR_GRID`` (1e-4 .. 3.16, half decades) side by side, one row of x per rate, and
keep the rate that reaches tol in the fewest steps (else the lowest final loss); the chosen rate
is in the summary. Newton and L-BFGS take lr = 1, their textbook step (the lecture: "no learning
rate"); L-BFGS searches its step with a strong-Wolfe line search, one ``step`` being up to 20 of
its inner iterations (``evaluations`` counts the loss evaluations of every method). momentum 0.9,
Adam betas (0.9, 0.999): the lecture's defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from babysitter.errors import BadInput
from babysitter.lab.common import lab_dir, save_summary, steps
from babysitter.optim.optimizers import NEEDS_CLOSURE, OPTIMIZERS, make_optimizer
from babysitter.spec import OptimSpec

QUADRATIC_A = torch.tensor([[1.0, 0.0], [0.0, 100.0]], dtype=torch.float64)
QUADRATIC_B = -QUADRATIC_A @ torch.tensor([1.0, 1.0], dtype=torch.float64)   # so that x* = -A^-1 b = (1, 1)
LR_GRID = tuple(10.0 ** (k / 2) for k in range(-8, 2))   # 1e-4, 3.2e-4, ..., 1, 3.2


def quadratic(x: torch.Tensor) -> torch.Tensor:
    """1/2 x^T A x + b^T x + c for each row of x (K, 2) -> (K,); minimum 0 at -A^-1 b."""
    c = 0.5 * QUADRATIC_B @ torch.linalg.solve(QUADRATIC_A, QUADRATIC_B)
    return 0.5 * ((x @ QUADRATIC_A) * x).sum(1) + x @ QUADRATIC_B + c


def saddle(x: torch.Tensor) -> torch.Tensor:
    """x1^2 + (x2^2 - 1)^2 / 4 for each row of x (K, 2) -> (K,); saddle (0, 0), minima (0, +-1)."""
    return x[:, 0] ** 2 + (x[:, 1] ** 2 - 1) ** 2 / 4


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """(1 - x1)^2 + 100 (x2 - x1^2)^2 for each row of x (K, 2) -> (K,); minimum 0 at (1, 1)."""
    return (1 - x[:, 0]) ** 2 + 100 * (x[:, 1] - x[:, 0] ** 2) ** 2


@dataclass(frozen=True)
class Problem:
    name: str
    loss: Callable[[torch.Tensor], torch.Tensor]   # (K, 2) -> (K,), minimum 0
    start: tuple[float, float]
    tol: float
    box: tuple[float, float, float, float]          # x1 from, to, x2 from, to (the contour plot)
    minima: tuple[tuple[float, float], ...]
    noise: float = 0.0                               # sigma of the gradient noise
    about: str = field(default="", compare=False)

    @property
    def window(self) -> int:
        """Steps whose mean loss must be below tol: 20 with noisy gradients, else 1."""
        return 20 if self.noise else 1


PROBLEMS = {p.name: p for p in (
    Problem("quadratic", quadratic, (-4.0, 1.5), 1e-6, (-4.5, 2.0, -0.2, 2.0), ((1.0, 1.0),),
            about="1/2 (x-x*)^T diag(1,100) (x-x*), x* = (1, 1)"),
    Problem("saddle", saddle, (1.5, 1e-3), 1e-3, (-1.8, 1.8, -1.5, 1.5), ((0.0, 1.0), (0.0, -1.0)),
            about="x1^2 + (x2^2-1)^2/4, saddle at (0,0), start next to it"),
    Problem("rosenbrock", rosenbrock, (-1.2, 1.0), 1e-6, (-2.0, 2.0, -1.0, 3.0), ((1.0, 1.0),),
            about="(1-x1)^2 + 100 (x2-x1^2)^2"),
    Problem("noisy", quadratic, (-4.0, 1.5), 1e-2, (-4.5, 2.0, -0.2, 2.0), ((1.0, 1.0),), noise=1.0,
            about="the quadratic, gradient + N(0, 1) noise per evaluation"),
)}
LECTURE_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "nadam", "newton", "lbfgs")


def _names(given, valid, what: str, default) -> list[str]:
    """``given`` (names, or comma-separated strings; None = ``default``) checked against ``valid``."""
    given = list(default) if not given else [given] if isinstance(given, str) else list(given)
    given = [g.strip() for item in given for g in item.split(",") if g.strip()]
    for g in given:
        if g not in valid:
            raise BadInput(f"optimizers lab: unknown {what} '{g}' (valid: {', '.join(valid)})")
    return given


def _noise_term(problem: Problem, x: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
    """n^T x per row of x (K, 2), n ~ N(0, sigma^2 I) drawn fresh: added to the loss, it adds n to
    the gradient and nothing to the Hessian. Zero for a problem without noise."""
    if not problem.noise:
        return x.new_zeros(x.shape[0])
    return (problem.noise * torch.randn(x.shape, generator=noise, dtype=x.dtype) * x).sum(1)


def _blew_up(f: torch.Tensor, f0: float) -> torch.Tensor:
    return ~torch.isfinite(f) | (f > 1e6 * (f0 + 1.0))


def _reached(losses: list[torch.Tensor], window: int, tol: float) -> torch.Tensor:
    """f < tol, or for a noisy problem the mean f over the last ``window`` steps < tol (one lucky
    step is not convergence)."""
    if window == 1:
        return losses[-1] < tol
    if len(losses) <= window:   # losses[0] is the start, not a step
        return torch.zeros_like(losses[-1], dtype=torch.bool)
    return torch.stack(losses[-window:]).mean(0) < tol


def race_grid(problem: Problem, name: str, lrs=LR_GRID, max_steps: int = 2000, seed: int = 0,
              stop_at_first: bool = True) -> dict:
    """A first-order optimizer at every rate of ``lrs`` side by side: one x per rate, the rows of
    one (K, 2) parameter. Every first-order step here is ``x -= lr * u`` with u a function of the
    gradient history alone, elementwise (see babysitter.optim.optimizers), so the optimizer steps
    with lr = 1 and row k keeps ``lr_k`` times that displacement: K independent runs in one
    (the test checks this against one run at one rate). A rate stops at tol or when its loss
    blows up (non-finite or 1e6 x the start); with ``stop_at_first`` the race ends when the first
    rate reaches tol (no other rate can then need fewer steps).
    Returns {"lrs", "path": (steps+1, K, 2), "loss": (steps+1, K), "steps_to_tol": [int|None],
    "stopped": [step per rate], "diverged": [bool]}."""
    if name in NEEDS_CLOSURE:
        raise BadInput(f"optimizers lab: {name} needs a closure; race it with race_closure")
    k = len(lrs)
    rate = torch.tensor(lrs, dtype=torch.float64)[:, None]
    x = torch.nn.Parameter(torch.tensor([problem.start] * k, dtype=torch.float64))
    opt = make_optimizer([x], OptimSpec(name=name, lr=1.0, momentum=0.9, weight_decay=0.0))
    noise = torch.Generator().manual_seed(seed)
    path, loss = [], []
    reached, diverged, stopped = [None] * k, [False] * k, [max_steps] * k
    active = torch.ones(k, dtype=torch.bool)
    for t in range(max_steps + 1):
        f = problem.loss(x)                      # (K,) at x_t: recorded, then differentiated
        path.append(x.detach().clone())
        loss.append(f.detach())
        if t > 0:
            blew = active & _blew_up(loss[-1], loss[0][0].item())
            done = blew | (active & _reached(loss, problem.window, problem.tol))
            for i in done.nonzero().flatten().tolist():
                diverged[i], reached[i], stopped[i] = bool(blew[i]), None if blew[i] else t, t
            active &= ~done
        if t == max_steps or not active.any() or (stop_at_first and any(s is not None for s in reached)):
            break
        opt.zero_grad()
        (f + _noise_term(problem, x, noise)).sum().backward()
        opt.step()
        with torch.no_grad():   # row k moves lr_k x the unit-rate step; stopped rows stay put
            before = path[-1]
            x.copy_(torch.where(active[:, None], before + rate * (x - before), before))
    return {"lrs": list(lrs), "path": torch.stack(path), "loss": torch.stack(loss), "steps_to_tol": reached,
            "stopped": stopped, "diverged": diverged}


def race_closure(problem: Problem, name: str, max_steps: int = 2000, seed: int = 0) -> dict:
    """Newton or L-BFGS (lr = 1) from the start: the same dict as ``race_grid`` with one rate, plus
    ``evaluations`` (loss evaluations, every closure call)."""
    x = torch.nn.Parameter(torch.tensor(problem.start, dtype=torch.float64))
    opt = make_optimizer([x], OptimSpec(name=name, lr=1.0, weight_decay=0.0))
    noise = torch.Generator().manual_seed(seed)
    evaluations = 0

    def closure(backward=True):
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad()
        value = (problem.loss(x[None]) + _noise_term(problem, x[None], noise)).sum()
        if backward:
            value.backward()
        return value

    path, loss = [x.detach().clone()], [problem.loss(x.detach()[None])]
    reached, diverged = None, False
    for t in range(1, max_steps + 1):
        opt.step(closure)
        path.append(x.detach().clone())
        loss.append(problem.loss(path[-1][None]))
        if _blew_up(loss[-1], loss[0].item())[0]:
            diverged = True
            break
        if _reached(loss, problem.window, problem.tol)[0]:
            reached = t
            break
        if not problem.noise and torch.equal(path[-1], path[-2]):
            break   # stuck at a stationary point (Newton on the saddle): no later step differs
    loss = torch.cat(loss)
    return {"lrs": [1.0], "path": torch.stack(path)[:, None], "loss": loss[:, None],
            "steps_to_tol": [reached], "stopped": [len(path) - 1], "diverged": [diverged], "evaluations": evaluations}


def race(problem: Problem, name: str, max_steps: int = 2000, seed: int = 0, lrs=LR_GRID) -> dict:
    """One optimizer on one problem, its rate chosen from the grid (first-order) or 1 (Newton,
    L-BFGS): {"optimizer", "lr", "steps_to_tol", "final_loss", "evaluations", "diverged", "path",
    "losses"}; ``path`` (steps+1, 2) and ``losses`` (steps+1,) are the chosen run's."""
    if name in NEEDS_CLOSURE:
        grid, best = race_closure(problem, name, max_steps, seed), 0
    else:
        grid = race_grid(problem, name, lrs, max_steps, seed)
        final = grid["loss"][-1]
        # fewest steps to tol; else the lowest final loss; a blown-up rate only if all blew up
        rank = lambda i: (grid["diverged"][i], grid["steps_to_tol"][i] is None,  # noqa: E731
                          grid["steps_to_tol"][i] or 0, final[i].item() if torch.isfinite(final[i]) else math.inf)
        best = min(range(len(lrs)), key=rank)
    stop = grid["stopped"][best]
    losses = grid["loss"][: stop + 1, best]
    return {"optimizer": name, "lr": grid["lrs"][best], "steps_to_tol": grid["steps_to_tol"][best],
            "final_loss": losses[-1].item(), "evaluations": grid.get("evaluations", stop),
            "diverged": grid["diverged"][best], "path": grid["path"][: stop + 1, best], "losses": losses}


def check_claims(problems: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the lecture's claims the issue checks, the same comparison on the other problems).
    Each: {"claim", "measured", "holds"}; a claim whose problem or optimizer was not run is left out."""
    table = {(p["name"], r["optimizer"]): r for p in problems for r in p["results"]}
    claims, observations = [], []
    if ("quadratic", "newton") in table:
        n = table["quadratic", "newton"]["steps_to_tol"]
        claims.append({"claim": "newton solves the quadratic in one step (steps_to_tol == 1)", "measured": n,
                       "holds": n == 1})
    for p in problems:
        sgd = table.get((p["name"], "sgd"))
        for name in ("momentum", "nesterov", "adam"):
            if sgd is None or (p["name"], name) not in table:
                continue
            n = table[p["name"], name]["steps_to_tol"]
            faster = n is not None and (sgd["steps_to_tol"] is None or n < sgd["steps_to_tol"])
            entry = {"claim": f"{name} reaches tol on {p['name']} in fewer steps than sgd "
                              f"({n} vs {sgd['steps_to_tol']})", "measured": n, "holds": faster}
            (claims if p["name"] == "quadratic" else observations).append(entry)
    if ("rosenbrock", "lbfgs") in table:
        final = table["rosenbrock", "lbfgs"]["final_loss"]
        claims.append({"claim": "lbfgs brings rosenbrock below 1e-6", "measured": final, "holds": final < 1e-6})
    return claims, observations


COLOURS = {"sgd": "tab:red", "momentum": "tab:blue", "nesterov": "tab:cyan", "adagrad": "tab:olive",
           "rmsprop": "tab:green", "adam": "tab:purple", "nadam": "tab:pink", "adamax": "tab:brown",
           "newton": "black", "lbfgs": "tab:orange"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _contours(ax, problem: Problem, grid: int = 200) -> None:
    """log-spaced contours of f over the problem's box (``grid`` x ``grid`` points), minima as stars."""
    x0, x1, y0, y1 = problem.box
    gx, gy = torch.meshgrid(torch.linspace(x0, x1, grid, dtype=torch.float64),
                            torch.linspace(y0, y1, grid, dtype=torch.float64), indexing="xy")
    f = problem.loss(torch.stack([gx.flatten(), gy.flatten()], 1)).reshape(gx.shape)
    low = max(f.min().item(), 1e-4)
    levels = torch.logspace(math.log10(low), math.log10(f.max().item()), 18).tolist()
    ax.contour(gx.numpy(), gy.numpy(), f.numpy(), levels=levels, cmap="Greys", linewidths=0.6, alpha=0.7)
    for m in problem.minima:
        ax.plot(*m, "*", color="gold", ms=12, mec="k", zorder=5)
    ax.plot(*problem.start, "o", color="k", ms=5, zorder=5)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x1", ylabel="x2")


def _label(name: str, r: dict) -> str:
    reached = "-" if r["steps_to_tol"] is None else r["steps_to_tol"]
    return f"{name} (lr {r['lr']:.3g}): {reached}"


def plot_trajectories(path: Path, problem: Problem, optimizers: list[str], raced: dict) -> Path:
    """The chosen run of every optimizer drawn over the contours of ``problem`` (legend: steps to tol)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    _contours(ax, problem)
    for name in optimizers:
        r = raced[problem.name, name]
        xy = r["path"].numpy()
        dots = name in NEEDS_CLOSURE and len(xy) <= 50   # a few big second-order steps: mark each
        ax.plot(xy[:, 0], xy[:, 1], "o--" if dots else "-", ms=3, lw=1.2 if len(xy) <= 50 else 0.6,
                color=COLOURS.get(name), label=_label(name, r))
    ax.set_title(f"{problem.name}: {problem.about}\n(legend: steps to f < {problem.tol:g}, - = not within the budget)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_losses(path: Path, problems: list[str], optimizers: list[str], raced: dict) -> Path:
    """f against the step, one panel per problem, log scale, the tolerance dotted."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(problems), figsize=(4.2 * len(problems), 3.6), squeeze=False)
    for ax, pname in zip(axes[0], problems):
        for name in optimizers:
            losses = raced[pname, name]["losses"].clamp_min(1e-16).numpy()
            dots = name in NEEDS_CLOSURE and len(losses) <= 50
            ax.semilogy(losses, "o--" if dots else "-", ms=3, lw=1, color=COLOURS.get(name), label=name)
        ax.axhline(PROBLEMS[pname].tol, ls=":", color="k", lw=1)
        ax.set_xscale("symlog", linthresh=1)
        ax.set(title=pname, xlabel="step", xlim=(0, None))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("loss (min 0)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def animate(path: Path, problem: Problem, optimizers: list[str], raced: dict, frames: int = 30,
            max_bytes: int = 1_000_000) -> Path | None:
    """An animated GIF of the trajectories on ``problem`` (PillowWriter, ``frames`` frames, step t
    of frame i on a log-spaced clock); removed again and None if it is over ``max_bytes``."""
    plt = _pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, ax = plt.subplots(figsize=(5, 3.8))
    _contours(ax, problem, grid=80)
    lines = {n: ax.plot([], [], "-", color=COLOURS.get(n), lw=1.2, label=n)[0] for n in optimizers}
    heads = {n: ax.plot([], [], "o", color=COLOURS.get(n), ms=4)[0] for n in optimizers}
    longest = max(len(raced[problem.name, n]["path"]) for n in optimizers)
    clock = sorted({min(longest - 1, round(math.expm1(i / (frames - 1) * math.log(longest)))) for i in range(frames)})
    ax.legend(fontsize=6, loc="lower right")
    title = ax.set_title("", fontsize=8)

    def draw(t):
        for n in optimizers:
            xy = raced[problem.name, n]["path"][: t + 1].numpy()
            lines[n].set_data(xy[:, 0], xy[:, 1])
            heads[n].set_data(xy[-1:, 0], xy[-1:, 1])
        title.set_text(f"{problem.name}, step {t}")
        return [*lines.values(), *heads.values(), title]

    FuncAnimation(fig, draw, frames=clock, blit=False).save(path, writer=PillowWriter(fps=8), dpi=80)
    plt.close(fig)
    if path.stat().st_size > max_bytes:
        path.unlink()
        return None
    return path


def run(out: str | Path | None = None, progress: bool = True, force: bool = False, problems=None,
        optimizers=None, max_steps: int = 2000, seed: int = 0, gif: bool = True) -> dict:
    """Every optimizer on every problem; writes optimizers_<problem>.png (trajectories over the
    contours), optimizers_loss.png, optimizers.gif (if small) and summary.json. Returns
    {"problems": [{"name", "results": [{"optimizer", "lr", "steps_to_tol", "final_loss", ...}]}], ...}."""
    problems = _names(problems, PROBLEMS, "problem", PROBLEMS)
    optimizers = _names(optimizers, OPTIMIZERS, "optimizer", LECTURE_OPTIMIZERS)
    if max_steps < 1:
        raise BadInput(f"optimizers lab: max_steps must be >= 1, got {max_steps}")
    out = lab_dir(out, "optimizers", force)
    rows, raced = [], {}
    with steps(len(problems) * len(optimizers) + 1, "optimizers", progress) as advance:
        for pname in problems:
            problem = PROBLEMS[pname]
            results = []
            for name in optimizers:
                r = race(problem, name, max_steps, seed)
                raced[pname, name] = r
                results.append({k: v for k, v in r.items() if k not in ("path", "losses")})
                advance(f"{pname}/{name}")
            rows.append({"name": pname, "about": problem.about, "start": list(problem.start), "tol": problem.tol,
                         "window": problem.window, "noise": problem.noise, "results": results})
        plots = [str(plot_trajectories(out / f"optimizers_{p}.png", PROBLEMS[p], optimizers, raced)) for p in problems]
        plots.append(str(plot_losses(out / "optimizers_loss.png", problems, optimizers, raced)))
        animation = animate(out / "optimizers.gif", PROBLEMS[problems[0]], optimizers, raced) if gif else None
        advance("plots")
    claims, observations = check_claims(rows)
    summary = {"problems": rows, "claims": claims, "observations": observations, "lr_grid": list(LR_GRID),
               "max_steps": max_steps, "seed": seed, "plots": plots,
               "animation": None if animation is None else str(animation), "out": str(out)}
    return save_summary(out, summary)


def table(summary: dict):
    """A rich Table: one row per optimizer, per problem the steps to tol and the chosen lr
    ("-" and the final loss when tol was not reached)."""
    from rich.table import Table

    names = [p["name"] for p in summary["problems"]]
    t = Table("optimizer", *(f"{n} (f < {p['tol']:g})" for n, p in zip(names, summary["problems"])),
              title=f"steps to tolerance (max {summary['max_steps']}; lr chosen from the grid, or 1)")
    by = {(p["name"], r["optimizer"]): r for p in summary["problems"] for r in p["results"]}
    for name in [r["optimizer"] for r in summary["problems"][0]["results"]]:
        cells = []
        for n in names:
            r = by[n, name]
            cells.append(f"{r['steps_to_tol']}  (lr {r['lr']:.3g})" if r["steps_to_tol"] is not None
                         else f"-  (f {r['final_loss']:.2g}{', diverged' if r['diverged'] else ''})")
        t.add_row(name, *cells)
    return t
