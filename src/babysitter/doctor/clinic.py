"""The public clinic: faulty specs with the finding they should produce, and healthy specs.

Layout of a clinic folder (default: the public clinic shipped inside the package,
``babysitter/clinic/``, see :data:`PUBLIC`; ``babysit clinic --dir DIR`` scores another):

    faulty/<expected_id>--<description>.yaml    the doctor must name <expected_id> among its top two
                                                warning/error findings
    healthy/<description>.yaml                  the doctor must raise no warning or error
    scripts/<expected_id>--<description>.py     plain PyTorch scripts, run under ``babysit watch``;
    scripts/healthy--<description>.py           <expected_id> as above, ``healthy``: no warning or error

``run_clinic`` runs ``babysit check`` on each spec and ``babysit watch`` on each script (in its own
process: a script owns its interpreter) and scores: faults named, false alarms, time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from babysitter.errors import BadInput

PUBLIC = Path(__file__).resolve().parents[1] / "clinic"   # package data: works from any folder once installed


def cases(folder: str | Path = PUBLIC, only: list[str] = ()) -> list[dict]:
    """[{"path", "expect" (finding id or None for healthy)}] from a clinic folder; ``only``: shell
    patterns on the file name (``lr_too_high--*``, ``*.py``), a case kept when any matches."""
    folder = Path(folder)
    if not any((folder / d).is_dir() for d in ("faulty", "healthy", "scripts")):
        raise BadInput(f"{folder} is not a clinic folder: it needs faulty/ and/or healthy/ with YAML specs, "
                       "or scripts/ with Python scripts")
    faulty = [{"path": p, "expect": p.name.split("--")[0]} for p in sorted((folder / "faulty").glob("*.yaml"))]
    healthy = [{"path": p, "expect": None} for p in sorted((folder / "healthy").glob("*.yaml"))]
    scripts = [{"path": p, "expect": None if p.name.startswith("healthy--") else p.name.split("--")[0]}
               for p in sorted((folder / "scripts").glob("*.py"))]
    chosen = faulty + healthy + scripts
    if only:
        from fnmatch import fnmatch

        chosen = [c for c in chosen if any(fnmatch(c["path"].name, pat) for pat in only)]
        if not chosen:
            raise BadInput(f"--only {' '.join(only)}: no case of {folder} matches (names look like "
                           "lr_too_high--sgd-mlp-digits.yaml, healthy--iris-small-data-manual-batches.py)")
    return chosen


def watch_script(path: Path, budget: float) -> dict:
    """``babysit watch --json`` on a script, in a child process; its report."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-m", "babysitter.cli", "watch", "--json", "--render", "none", "--budget", str(budget),
                               "--out", str(Path(tmp) / "run"), str(path)], capture_output=True, text=True)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"healthy": False, "findings": [{"id": f"watch failed: {last}", "severity": "error"}]}


def alarms(report: dict) -> list[str]:
    """The ids of the warning/error findings, most likely first."""
    return [f["id"] for f in report["findings"] if f["severity"] in ("error", "warning")]


def run_case(case: dict, budget: float) -> dict:
    from babysitter.doctor.diagnose import check

    t0 = time.perf_counter()
    report = watch_script(case["path"], budget) if case["path"].suffix == ".py" else check(case["path"], budget=budget)
    named = alarms(report)
    ok = (case["expect"] in named[:2]) if case["expect"] else not named
    return {"spec": case["path"].name, "expect": case["expect"] or "healthy", "top": named[:3], "ok": ok,
            "seconds": round(time.perf_counter() - t0, 1)}


def run_clinic(folder: str | Path | None = None, budget: float = 15.0, on_result=None, only: list[str] = ()) -> dict:
    """Run every case (``only``: those whose file name matches a pattern); ``on_result(row)`` is
    called as each finishes (progress). ``folder``: None, the public clinic."""
    folder = PUBLIC if folder is None else Path(folder).resolve()
    if folder != PUBLIC and str(folder.parent) not in sys.path:  # a copy's factories: "clinic.models:..."
        sys.path.insert(0, str(folder.parent))
    rows = []
    for case in cases(folder, only):
        rows.append(run_case(case, budget))
        if on_result:
            on_result(rows[-1])
    faulty = [r for r in rows if r["expect"] != "healthy"]
    healthy = [r for r in rows if r["expect"] == "healthy"]
    return {"cases": rows,
            "faults_named": sum(r["ok"] for r in faulty), "faults": len(faulty),
            "named_fraction": sum(r["ok"] for r in faulty) / max(len(faulty), 1),
            "false_alarms": sum(not r["ok"] for r in healthy), "healthy": len(healthy),
            "seconds": round(sum(r["seconds"] for r in rows), 1)}
