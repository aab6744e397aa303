"""The package on its own: the wheel built from this checkout, installed with the pinned constraints
into a fresh venv (no system site-packages), runs `babysit clinic` (the clinic is package data),
`babysit run` and `babysit list --findings` from a temp folder that holds no checkout."""

import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sh(*args, cwd=None, timeout=900):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    p = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(map(str, args))} -> {p.returncode}\n{p.stderr[-3000:]}"
    return p.stdout


def test_wheel_installs_alone_and_runs_from_any_folder(tmp_path):
    src = tmp_path / "src-copy"      # built from a copy: the checkout gets no build/ or egg-info
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src)
    wheel = next((tmp_path / "dist").glob("babysitter-*.whl"))
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("babysitter/clinic/")}
    clinic = ROOT / "src" / "babysitter" / "clinic"
    expected = {f"babysitter/clinic/{p.relative_to(clinic).as_posix()}" for p in clinic.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert shipped == expected and len(expected) > 80

    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv)
    sh(venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", "-c", ROOT / "constraints.txt", wheel)
    babysit = venv / "bin" / "babysit"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()

    result = json.loads(sh(babysit, "clinic", "--json", "--budget", "5", "--only", "gradient_check_failed--*",
                           "--only", "healthy--iris*", cwd=cwd))
    cases = {c["spec"]: c for c in result["cases"]}
    assert set(cases) == {"gradient_check_failed--buggy-backward-digits.yaml",   # a python factory of the package
                          "healthy--iris-small-data-manual-batches.py"}          # a script, under babysit watch
    assert all(c["ok"] for c in cases.values()), cases
    assert (result["faults_named"], result["faults"], result["false_alarms"]) == (1, 1, 0)

    (cwd / "tiny.yaml").write_text("name: tiny\ndata: {source: digits, subset: 300}\n"
                                   "model: {kind: mlp, hidden: [16]}\ntrain: {epochs: 1, batch_size: 128}\n")
    final = json.loads(sh(babysit, "run", "tiny.yaml", "--json", cwd=cwd))
    run_dir = cwd / "runs" / "tiny"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"]) for r in rows] == [(1, math.ceil(300 * 0.9 / 128))]   # 270 train examples
    assert json.loads((run_dir / "final.json").read_text())["test_acc"] == final["test_acc"]
    assert (run_dir / "diagnosis.json").is_file() and (run_dir / "report.html").is_file()

    vocabulary = json.loads(sh(babysit, "list", "--findings", "--json", cwd=cwd))["findings"]
    assert "no_training_seen" in [v["id"] for v in vocabulary]
    assert sorted(p.name for p in cwd.iterdir()) == ["runs", "tiny.yaml"]    # nothing else left behind
