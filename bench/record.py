"""Run the benchmarks and record their results: ``make bench`` (or ``python bench/record.py``).

    python bench/record.py                      # every bench/*.py benchmark
    python bench/record.py overhead inference   # only these
    python bench/record.py --timeout 3600 ...   # seconds allowed per bench (default: none)
    python bench/record.py --table-only         # only regenerate the table from bench/results/

Each bench runs in its own process (``python bench/NAME.py ARGS --json``, the ARGS in
``INVOCATIONS``; a bench found in bench/ but not listed there gets only ``--json``), one after the
other, and its JSON lands in bench/results/NAME.json with the command, exit status, wall seconds,
date, load average and the machine. A bench that is missing, fails, times out or prints no JSON
is recorded with its error and the others go on. Then the table between ``<!-- results:begin -->``
and ``<!-- results:end -->`` in bench/RESULTS.md is regenerated from every bench/results/*.json
(the prose around the markers is left as it is). Exit status: 0 when every requested bench ran.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# The full (not --quick/--smoke) invocation of each bench; "--json" is always added.
INVOCATIONS: dict[str, list[str]] = {
    "overhead": ["--threads", "1"],  # 6000 steps, 5 interleaved repeats; at 2 threads this tiny
                                     # CNN's step time varies 11-19 s per run (OpenMP), 1 thread is steady
    "inference": [],
    "default_recipe": [],
    "speedrun": [],
    "fashion": [],
    "search": [],
    "transfer": [],
    "ddp": [],  # 2 x 2 launches of babysit train --nproc N; honest even where N = 2 is slower on 2 cores
    "treat": [],     # the whole clinic, treat + 3 random-baseline seeds, 3 rounds: long on a shared box
    "threads": [],   # quiet vs one competing CPU-bound process, auto vs fixed thread count
    "watch": [],     # babysit watch --no-probes vs python on a CNN script
    "watch_lm": ["--case", "lm", "--repeats", "5", "--", "--max_iters=1500"],   # ... on a char LM, ~20 s a run
}
SCRIPTS = {"watch_lm": "watch"}   # a second invocation of a bench: its script
NOT_BENCHES = {"record", "machine", "lightning_loop", "gpu", "ablation"}  # gpu: through bench/gpu.sh on a GPU machine

# Leaf names shown in the table when a result has them (else its first few numbers).
KEY_NAMES = ("ratio", "ratio_doctor", "ratio_lightning", "ratio_busy_auto", "ratio_busy_fixed", "max_loss_diff", "doctor_hook_share", "speedup", "max_abs_diff",
             "folded_eps", "ratio_94", "ratio_98", "seconds_to_94", "test_acc", "median_test_acc",
             "best_val_acc", "median_seconds", "trials_per_min", "repaired_fraction", "mean_val_gain")
MAX_KEYS = 8


def discover() -> list[str]:
    """The benchmarks: INVOCATIONS' order, then any other bench/*.py."""
    found = {p.stem for p in BENCH.glob("*.py")} - NOT_BENCHES
    return [n for n in INVOCATIONS if SCRIPTS.get(n, n) in found] + sorted(found - set(INVOCATIONS))


def run_bench(name: str, timeout: float | None) -> dict:
    """Run one bench; the record written to bench/results/NAME.json."""
    args = INVOCATIONS.get(name, [])
    cut = args.index("--") if "--" in args else len(args)   # "--json" is the bench's, not the script's after "--"
    script = BENCH / f"{SCRIPTS.get(name, name)}.py"
    command = [sys.executable, str(script), *args[:cut], "--json", *args[cut:]]
    record = {"name": name, "command": " ".join([Path(command[0]).name, *command[1:]]).replace(str(ROOT) + "/", ""),
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "load_average_before": list(os.getloadavg())}
    t0 = time.perf_counter()
    if not script.is_file():
        return {**record, "returncode": None, "seconds": 0.0, "error": f"no bench/{name}.py"}
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**record, "returncode": None, "seconds": round(time.perf_counter() - t0, 2),
                "error": f"timed out after {timeout} s"}
    record.update(returncode=done.returncode, seconds=round(time.perf_counter() - t0, 2),
                  load_average_after=list(os.getloadavg()))
    result = parse_json(done.stdout)
    if done.returncode != 0 or not isinstance(result, dict):
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        why = f"exit status {done.returncode}" if done.returncode else "printed no JSON object"
        return {**record, "error": f"{why}: {tail[0][:300]}"}
    return {**record, "result": result}


def parse_json(stdout: str):
    """The bench's JSON: all of stdout, else its last line (a bench that also prints a few lines)."""
    for text in (stdout, (stdout.strip().splitlines() or [""])[-1]):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return None


def flatten(value, prefix: str = "") -> dict[str, object]:
    """``{dotted.path: scalar}``; an item of a list of objects is named by its "name" (or "recipe")
    alone, without the list's key, to keep the table short."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k != "machine":
                out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            label = v.get("name", v.get("recipe", i))
            named = "name" in v or "recipe" in v
            out.update(flatten({k: x for k, x in v.items() if k not in ("name", "recipe")},
                               f"{label}." if named else f"{prefix}{label}."))
        return out
    return {prefix[:-1]: value} if isinstance(value, (int, float)) and not isinstance(value, bool) else {}


def key_numbers(result: dict) -> list[tuple[str, float]]:
    flat = flatten(result)
    chosen = [(k, v) for k, v in flat.items() if k.rsplit(".", 1)[-1] in KEY_NAMES]
    return (chosen or list(flat.items()))[:MAX_KEYS]


def fmt(v: float) -> str:
    if isinstance(v, int) or (isinstance(v, float) and math.isfinite(v) and v == int(v) and abs(v) >= 1):
        return f"{int(v):,}"
    if isinstance(v, float) and math.isfinite(v) and (abs(v) >= 1e4 or (v and abs(v) < 1e-3)):
        return f"{v:.2g}" if abs(v) < 1 else f"{v:,.0f}"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def table(records: list[dict]) -> str:
    """The markdown regenerated between the markers."""
    m = next((r["machine"] for r in records if r.get("machine")), machine())
    lines = [f"Recorded by `make bench` (bench/record.py); raw JSON in bench/results/. Machine: {m['cpu']}, "
             f"{m['cores']} cores, torch {m['torch']} ({m['threads']} threads), Python {m['python']}"
             f"{', ' + m['cuda'] if m.get('cuda') else ''}.", "",
             "| bench | recorded (UTC) | load avg | seconds | key numbers |", "|---|---|---|---|---|"]
    for r in records:
        load = "/".join(f"{x:.1f}" for x in r.get("load_average_before", [])[:1] + r.get("load_average_after", [])[:1])
        if "error" in r:
            numbers = f"**failed**: {r['error']}".replace("|", "\\|")
        else:
            numbers = ", ".join(f"{k} {fmt(v)}" for k, v in key_numbers(r["result"]))
        lines.append(f"| `{r['command']}` | {r['started'][:16].replace('T', ' ')} | {load} | {r['seconds']:.0f} | "
                     f"{numbers} |")
    return "\n".join(lines)


def write_table(results_md: Path, records: list[dict]) -> None:
    """Replace what lies between the markers (appending the markers at the end if absent)."""
    text = results_md.read_text() if results_md.is_file() else "# Benchmark results\n"
    block = f"{BEGIN}\n{table(records)}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Recorded results\n\n" + block + "\n"
    results_md.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="benches to run (default: every bench/*.py)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds allowed per bench")
    ap.add_argument("--table-only", action="store_true", help="run nothing, regenerate the table")
    ap.add_argument("--results-md", type=Path, default=BENCH / "RESULTS.md", help=argparse.SUPPRESS)
    ap.add_argument("--results-dir", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    names = [] if args.table_only else (args.names or discover())
    args.results_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        record = {**run_bench(name, args.timeout), "machine": machine()}
        (args.results_dir / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"bench {name}: {record.get('error', 'ok')} ({record['seconds']:.0f} s)", file=sys.stderr, flush=True)
        if "error" in record:
            failed.append(name)
    records = [json.loads(p.read_text()) for p in sorted(args.results_dir.glob("*.json"))]
    order = {n: i for i, n in enumerate(discover())}
    records.sort(key=lambda r: (order.get(r["name"], len(order)), r["name"]))
    write_table(args.results_md, records)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
