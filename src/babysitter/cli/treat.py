"""``babysit treat SPEC``: the doctor applies its own advice, checks again, and compares in full."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from babysitter.cli.app import JSON, QUIET, SET, app, console_for, spec_from


@app.command()
def treat(spec: Path = typer.Argument(..., help="Run spec (YAML)."),
          rounds: int = typer.Option(3, "--rounds", help="Changes to try at most (one check each)."),
          out: Optional[Path] = typer.Option(None, "--out", help="Dir for treated.yaml, treat.json, the runs "
                                             "(default: runs/<name>-treat, numbered if taken)."),
          budget: float = typer.Option(15.0, help="Seconds of monitored training per check."),
          force: bool = typer.Option(False, "--force", help="Replace an existing --out dir."),
          sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """check -> apply the top finding's changes -> check again ... -> train original and treated in full."""
    from babysitter.doctor.treat import treat as run_treat
    from babysitter.train.history import TAKEN_NO_RESUME, check_run_dir, fresh_run_dir

    resolved = spec_from(spec, sets)
    out = out if out is not None else fresh_run_dir("runs", f"{resolved.name}-treat")
    check_run_dir(out, force, TAKEN_NO_RESUME)  # the one-line error, before any work (treat has no --resume)
    from babysitter.errors import CannotWrite, Interrupted

    again = f"babysit treat starts over: run it again with --force --out {out}"
    try:
        result = run_treat(resolved, out, rounds=rounds, budget=budget, progress=not (quiet or as_json), force=force)
    except Interrupted as e:  # its runs' own hint names babysit train --resume: treat itself starts over
        how = str(e).split(";")[0].split(" before")[0]
        raise Interrupted(f"{how}; {again}", e.status) from None
    except CannotWrite as e:
        raise CannotWrite(f"{str(e).split('; the last good checkpoint')[0].split('; no checkpoint')[0]}; {again}") from None
    if (console := console_for(result, as_json, quiet, highlight=False)) is None:
        return
    for n, r in enumerate(result["rounds"], 1):
        changed = ", ".join(f"{k}: {o} -> {v}" for k, (o, v) in r["changes"].items())
        console.print(f"round {n}: {r['treated'] or 'random'} -> {changed} "
                      f"({'kept' if r['kept'] else 'undone: worse'})", markup=False)
    b, a = result["before"], result["after"]
    console.print(f"{'[green]healthy[/green]' if result['healthy'] else '[red]NOT healthy[/red]'} after "
                  f"{len(result['rounds'])} round(s); val acc {b['val_acc']} -> {a['val_acc']}, "
                  f"test acc {b['test_acc']} -> {a['test_acc']}")
    console.print(f"treated spec: {out / 'treated.yaml'}; report: {result['report']}", markup=False)
