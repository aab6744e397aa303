"""The optimizer race: the issue's claims on the lab's real output (through the CLI), and each
piece against an independent computation (numpy's solve, the closed form of SGD on a quadratic,
torch.optim stepping one rate alone)."""

import json

import numpy as np
import pytest
import torch

from babysitter.lab import optimizers as lab
from tests.conftest import run_main


def test_cli_reproduces_the_lecture(tmp_path, monkeypatch, capsys):
    out = tmp_path / "lab"
    code, stdout, _ = run_main(monkeypatch, capsys, "lab", "optimizers", "--out", out, "--json", "--no-gif",
                               "--problems", "quadratic,rosenbrock",
                               "--optimizers", "sgd,momentum,nesterov,adam,lbfgs,newton")
    assert code in (0, None)
    summary = json.loads(stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    assert [p["name"] for p in summary["problems"]] == ["quadratic", "rosenbrock"]
    for name in ("quadratic", "rosenbrock"):
        assert (out / f"optimizers_{name}.png").stat().st_size > 10_000
    res = {(p["name"], r["optimizer"]): r for p in summary["problems"] for r in p["results"]}
    # the checks on the measured numbers
    assert res["quadratic", "newton"]["steps_to_tol"] == 1
    sgd = res["quadratic", "sgd"]["steps_to_tol"]
    assert sgd is not None
    for name in ("momentum", "nesterov", "adam"):
        assert res["quadratic", name]["steps_to_tol"] < sgd
    assert res["rosenbrock", "lbfgs"]["final_loss"] < 1e-6
    # a reached tol means the final loss is below it; a missed one that it is not (deterministic problems)
    for (pname, _), r in res.items():
        tol = lab.PROBLEMS[pname].tol
        assert (r["final_loss"] < tol) == (r["steps_to_tol"] is not None)
    assert all(c["holds"] for c in summary["claims"]) and len(summary["claims"]) == 5
    assert {tuple(c) for c in summary["claims"] + summary["observations"]} == {("claim", "measured", "holds")}
    assert summary["claims"][-1]["measured"] == res["rosenbrock", "lbfgs"]["final_loss"]


def test_unknown_optimizer_is_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "never"
    code, stdout, err = run_main(monkeypatch, capsys, "lab", "optimizers", "--out", out, "--optimizers", "sgd,adamw")
    assert code == 2 and stdout == ""
    assert "unknown optimizer 'adamw'" in err and "nesterov" in err and "newton" in err
    code, _, err = run_main(monkeypatch, capsys, "lab", "optimizers", "--out", out, "--problems", "himmelblau")
    assert code == 2 and "rosenbrock" in err
    assert not out.exists()


def test_newton_lands_on_the_analytic_minimum_in_one_step():
    a, b = lab.QUADRATIC_A.numpy(), lab.QUADRATIC_B.numpy()
    r = lab.race_closure(lab.PROBLEMS["quadratic"], "newton", max_steps=1)
    np.testing.assert_allclose(r["path"][1, 0].numpy(), -np.linalg.solve(a, b), atol=1e-12)
    assert r["steps_to_tol"] == [1] and r["evaluations"] == 1
    x = r["path"][1, 0].numpy()   # and the loss there is 0: f = 1/2 x^T A x + b^T x + c, c = 1/2 b^T A^-1 b
    assert 0.5 * x @ a @ x + b @ x + 0.5 * b @ np.linalg.solve(a, b) == pytest.approx(0.0, abs=1e-12)


def test_sgd_steps_to_tol_match_the_closed_form():
    """SGD on 1/2 e^T diag(l) e: e_t = (1 - lr l)^t e_0 per coordinate; f_t = sum 1/2 l e_t^2."""
    problem, lr = lab.PROBLEMS["quadratic"], 0.01
    lam = np.diag(lab.QUADRATIC_A.numpy())
    e0 = np.array(problem.start) - np.array([1.0, 1.0])
    t = np.arange(3000)[:, None]
    f = (0.5 * lam * (e0 * (1 - lr * lam) ** t) ** 2).sum(1)
    expected = int(np.argmax(f < problem.tol))
    r = lab.race_grid(problem, "sgd", lrs=[lr], max_steps=3000)
    assert r["steps_to_tol"] == [expected]
    np.testing.assert_allclose(r["loss"][:, 0].numpy(), f[: expected + 1], rtol=1e-9, atol=1e-12)   # c cancels: ~1e-14 absolute


@pytest.mark.parametrize("name, make", [
    ("adam", lambda p, lr: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8)),
    ("nesterov", lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True)),
    ("rmsprop", lambda p, lr: torch.optim.RMSprop(p, lr=lr, alpha=0.99, eps=1e-8)),
])
def test_the_grid_is_independent_runs_at_each_rate(name, make):
    """Rows of the grid race = torch.optim stepping that one rate alone (the lr-rescaling is exact)."""
    problem, lrs = lab.PROBLEMS["rosenbrock"], [3e-4, 2e-3]
    grid = lab.race_grid(problem, name, lrs=lrs, max_steps=60, stop_at_first=False)
    for k, lr in enumerate(lrs):
        x = torch.nn.Parameter(torch.tensor(problem.start, dtype=torch.float64))
        opt = make([x], lr)
        for t in range(60):
            np.testing.assert_allclose(grid["path"][t, k].numpy(), x.detach().numpy(), rtol=1e-9, atol=1e-12)
            opt.zero_grad()
            lab.rosenbrock(x[None]).sum().backward()
            opt.step()


def test_steps_to_tol_is_null_when_the_budget_is_too_small():
    quadratic = lab.PROBLEMS["quadratic"]
    r = lab.race(quadratic, "sgd", max_steps=5)
    assert r["steps_to_tol"] is None and r["final_loss"] > quadratic.tol and len(r["path"]) == 6
    r = lab.race(lab.PROBLEMS["rosenbrock"], "newton", max_steps=2)   # Newton needs 5 steps there
    assert r["steps_to_tol"] is None and r["evaluations"] == 2


def test_newton_is_drawn_to_the_saddle():
    """Newton's step solves grad f = 0 and the saddle is such a point: from next to it, it stays there."""
    r = lab.race(lab.PROBLEMS["saddle"], "newton")
    assert r["steps_to_tol"] is None
    np.testing.assert_allclose(r["path"][-1].numpy(), [0.0, 0.0], atol=1e-12)
    assert r["final_loss"] == pytest.approx(0.25)


def test_noise_adds_gaussian_noise_to_the_gradient_only():
    problem = lab.PROBLEMS["noisy"]
    x = torch.tensor([[0.3, -0.7]] * 4000, dtype=torch.float64, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    (problem.loss(x) + lab._noise_term(problem, x, gen)).sum().backward()
    true = lab.QUADRATIC_A.numpy() @ np.array([0.3, -0.7]) + lab.QUADRATIC_B.numpy()
    noise = x.grad.numpy() - true
    assert np.abs(noise.mean(0)).max() < 0.1 and np.allclose(noise.std(0), problem.noise, rtol=0.05)
    assert lab._noise_term(lab.PROBLEMS["quadratic"], x, gen).abs().sum() == 0


def test_small_gif(tmp_path):
    problem = lab.PROBLEMS["quadratic"]
    raced = {("quadratic", n): lab.race(problem, n, max_steps=50) for n in ("newton", "lbfgs", "sgd")}
    path = lab.animate(tmp_path / "a.gif", problem, ["newton", "lbfgs", "sgd"], raced, frames=6)
    assert path is not None and path.read_bytes()[:6] in (b"GIF89a", b"GIF87a") and path.stat().st_size < 1_000_000
    assert lab.animate(tmp_path / "b.gif", problem, ["sgd"], raced, frames=4, max_bytes=10) is None
    assert not (tmp_path / "b.gif").exists()


def test_human_output_lists_each_claim_with_its_verdict_and_measurement(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "400")   # rich wraps at 80 columns when not on a terminal
    out = tmp_path / "lab"
    code, stdout, _ = run_main(monkeypatch, capsys, "lab", "optimizers", "--out", out, "--no-gif",
                               "--problems", "quadratic,rosenbrock", "--optimizers", "sgd,momentum,newton")
    assert code in (0, None)
    summary = json.loads((out / "summary.json").read_text())
    lines = stdout.splitlines()
    for c in summary["claims"] + summary["observations"]:
        at = next(i for i, line in enumerate(lines) if line.endswith(c["claim"]))
        assert lines[at].lstrip().startswith("holds: yes" if c["holds"] else "holds: no")
        measured = c["measured"]
        assert lines[at + 1].split() == ["measured:", "-" if measured is None else f"{measured:.3g}"
                                         if isinstance(measured, float) else str(measured)]
    assert ("observations (not among the lecture's claims):" in lines) == bool(summary["observations"])
    assert [line.removeprefix("plot: ") for line in lines if line.startswith("plot: ")] == summary["plots"]
