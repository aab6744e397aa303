"""`babysit watch` overhead: a healthy clinic script's wall time under ``babysit watch --no-probes``
(and with the probes on) against plain ``python SCRIPT``, side by side in one run.

    python bench/watch.py [--case cnn|lm | --script PATH] [--repeats 9] [--warmup 1] [--threads 1] [--json]
                          [-- SCRIPT ARGS]

``--case lm``: a character-level transformer language model (token ids into an Embedding, a model
returning ``(logits, loss)``, AdamW groups, warmup, clipping): the issue-24 goal, ratio <= 1.03 for
``--no-probes`` and the probes within 10 % of a one-minute script. Its script takes nanoGPT-style
``--key=value`` overrides: ``-- --max_iters=1500`` runs it ~5x longer (~30 s), so the watch's fixed
start-up (imports, the verdict, the run dir: ~0.2 s) weighs as it does on a real training run.

Three configs, each a fresh process running the same unmodified script: ``plain`` (``python
SCRIPT``), ``watch`` (``babysit watch --quiet --no-probes --out DIR SCRIPT``) and ``probes``
(the same with the probes on, the default ``--budget``). A config's seconds: the wall time of the
whole process, what a user waits for (interpreter start, imports, the script, and for watch the
doctor's imports, hooks, diagnosis and run dir: metrics, plots, report). Repeats are interleaved,
the order rotating each repeat, after ``--warmup`` untimed runs of each (file cache). The package's
bytecode is compiled first, as ``pip install`` does: under ``PYTHONDONTWRITEBYTECODE`` (set on our
CI boxes) an editable install would otherwise compile its ~90 modules from source at every start
(~70 ms a run, measured; ``bytecode`` in the JSON says whether that variable was set).
After a watched run the bench waits for its background render (plots and report.html, drawn by a
separate process once the verdict is out) before the next run starts, so that no run shares the
CPUs with another's render; ``render_seconds`` is the median time from the watch's exit to its
report.html, which the user does not wait for.

``ratio`` = median watch / median plain (goal 1.03); ``ratio_min`` the same from the fastest runs
(the least disturbed by other load); ``ratio_cpu`` from the children's CPU time (user + system,
``resource.getrusage(RUSAGE_CHILDREN)``), which waiting for a CPU held by another job does not
inflate. ``probes_seconds``: the probes' own time as the run reports it (median of
``probes.seconds_total`` in diagnosis.json); ``probes_extra_seconds`` = median probes - median
watch, the same cost seen from outside. ``same_output``: the script's stdout was byte-identical in
every run of every config (watching never changes what the script computes). ``--threads``: the
children's OMP/MKL threads (default 1: on a machine shared with other jobs more OpenMP threads than
free cores make small steps 4-10x slower and the timing noise swamps a 3% effect).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import guarded, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCRIPT = ROOT / "src" / "babysitter" / "clinic" / "scripts" / "healthy--mnist1d-cnn-dataloader-onecycle.py"
CONFIGS = ("plain", "watch", "probes")
LM_SCRIPTS = (ROOT / "src" / "babysitter" / "clinic" / "scripts" / "healthy--charlm-transformer-stdlib-docstrings.py",
              ROOT / "tests" / "doctor" / "scripts" / "lm_char_transformer.py")
CASES = {"cnn": DEFAULT_SCRIPT, "lm": next((p for p in LM_SCRIPTS if p.is_file()), LM_SCRIPTS[-1])}


def babysit() -> list[str]:
    """The console script next to this interpreter (what a user types), else ``python -m babysitter.cli``."""
    script = Path(sys.executable).parent / "babysit"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "babysitter.cli"]


def command(name: str, script: Path, run_dir: Path, args: list[str]) -> list[str]:
    if name == "plain":
        return [sys.executable, str(script), *args]
    probes = [] if name == "probes" else ["--no-probes"]
    return [*babysit(), "watch", "--quiet", *probes, "--out", str(run_dir), str(script), *args]


RENDERED: list[float] = []   # seconds from a watch's exit to its report.html (the background render)


def rendered(run_dir: Path, timeout: float = 120.0) -> None:
    """Wait for the run's background render (plots, report.html) to finish, so that it does not
    share the CPUs with the next timed run; record how long it took after the watch exited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if (run_dir / "report.html").is_file() or (run_dir / "report-error.txt").is_file():
            RENDERED.append(time.perf_counter() - t0)
            time.sleep(0.2)   # the renderer's own exit
            return
        time.sleep(0.05)


def run(name: str, script: Path, run_dir: Path, env: dict, args: list[str]) -> tuple[float, float, str, dict | None]:
    """(wall seconds, CPU seconds of the child, its stdout, the run's diagnosis.json or None)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command(name, script, run_dir, args), capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [""])[-1]
        sys.exit(f"bench/watch.py: {name} run of {script.name} failed (exit {done.returncode}): {tail[:300]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if name != "plain":
        rendered(run_dir)
    diagnosis = run_dir / "diagnosis.json"
    report = json.loads(diagnosis.read_text()) if name != "plain" and diagnosis.is_file() else None
    return seconds, cpu, done.stdout, report


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--script", type=Path, default=None, help="a healthy training script (overrides --case)")
    ap.add_argument("--case", choices=sorted(CASES), default="cnn",
                    help="cnn: an MNIST-1D CNN; lm: a character-level transformer language model")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each config first")
    ap.add_argument("--threads", type=int, default=1, help="OMP/MKL threads of the runs (0: leave unset)")
    ap.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    ap.add_argument("args", nargs="*", help="after --: the script's own arguments (lm: --max_iters=1500)")
    args = ap.parse_args()
    args.script = args.script or CASES[args.case]
    if not args.script.is_file():
        sys.exit(f"bench/watch.py: no script {args.script}")
    if args.repeats < 1 or args.warmup < 0:
        sys.exit(f"bench/watch.py: --repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        import torch

        torch.set_num_threads(args.threads)  # so machine() records the threads the runs had
    script = args.script.resolve()
    times, cpu = {n: [] for n in CONFIGS}, {n: [] for n in CONFIGS}
    outputs, probe_seconds, steps = set(), [], None
    compileall.compile_dir(str(ROOT / "src"), quiet=1)   # what pip install does; the runs read it (never write)
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        for w in range(args.warmup):
            for name in CONFIGS:
                run(name, script, Path(tmp) / f"warm-{name}-{w}", env, args.args)
        load_before = os.getloadavg()
        for r in range(args.repeats):
            for name in CONFIGS[r % 3:] + CONFIGS[:r % 3]:  # rotate who goes first
                seconds, cpu_seconds, stdout, report = run(name, script, Path(tmp) / f"{name}-{r}", env, args.args)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
                outputs.add(stdout)
                if report is not None:
                    steps = report.get("steps", steps)
                    total = (report.get("probes") or {}).get("seconds_total")
                    if name == "probes" and isinstance(total, (int, float)):
                        probe_seconds.append(total)
            if not args.json:
                print(f"repeat {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result = {"ratio": med["watch"] / med["plain"], "ratio_min": low["watch"] / low["plain"],
              "ratio_cpu": med_cpu["watch"] / med_cpu["plain"], "ratio_probes": med["probes"] / med["plain"],
              "plain_seconds": med["plain"], "watch_seconds": med["watch"], "watch_probes_seconds": med["probes"],
              "probes_seconds": statistics.median(probe_seconds) if probe_seconds else None,
              "probes_extra_seconds": med["probes"] - med["watch"],
              "same_output": len(outputs) == 1, "steps": steps,
              "render_seconds": statistics.median(RENDERED) if RENDERED else None,
              "script": str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else str(script),
              "case": args.case if args.script == CASES[args.case] else None, "script_args": args.args,
              "repeats": args.repeats, "warmup": args.warmup, "threads": args.threads,
              "bytecode": "compiled first" + (" (PYTHONDONTWRITEBYTECODE set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""),
              "seconds": times, "cpu_seconds": cpu,
              "load_average": [load_before, os.getloadavg()], "machine": machine()}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    guarded(main)
