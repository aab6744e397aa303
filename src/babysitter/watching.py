"""``babysit watch`` without typer: its options, their parse (:func:`parse_watch`) and the verb
itself (:func:`watch_script`).

A watched script's time includes the watch's start-up (``bench/watch.py``): typer's import alone
is ~14 ms of it, the other verbs' modules and typer's pydantic coercion more. So the console script
(:mod:`babysitter.babysit`) reads ``babysit watch [OPTIONS] SCRIPT [ARGS...]`` here and runs it;
anything else -- another verb, ``--help``, an unknown option, a value that does not convert -- goes
to typer (:mod:`babysitter.cli`), which gives the help and the one-line usage errors.
``babysitter/cli/watch.py`` declares the same options for typer (their help texts);
``tests/test_cli_errors.py`` checks that both read the same words the same way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

WATCH_FLAGS = {"--probes": ("probes", True), "--no-probes": ("probes", False), "--tensorboard": ("tensorboard", True),
               "--json": ("as_json", True), "--quiet": ("quiet", True), "-q": ("quiet", True)}
WATCH_OPTIONS = {"--out": ("out", Path), "--budget": ("budget", float), "--every": ("every", int), "--render": ("render", str)}


def watch_script(script: Path, args: list[str], *, out: Path | None = None, probes: bool = True, budget: float = 30.0,
                 every: int = 25, render: str = "background", tensorboard: bool = False, as_json: bool = False,
                 quiet: bool = False) -> int:
    """``babysit watch``: SCRIPT run as ``python SCRIPT ARGS`` would, with the doctor attached; the
    script's own exit status. Every input of watch's own is checked first (BadInput: the script
    never runs), and the run dir is made absolute, created, marked and locked (a second watch on it
    stops with "in use by pid N")."""
    from babysitter.doctor.watch import Watch, runner
    from babysitter.errors import BadInput
    from babysitter.report.console import verdict

    if budget < 0:
        raise BadInput(f"--budget must be >= 0 seconds, got {budget}")
    if render not in ("now", "background", "none"):
        raise BadInput(f"--render must be now, background or none, got {render!r}")
    if every < 1:
        raise BadInput(f"--every must be >= 1, got {every}")
    code = runner.load(script)
    out = take_run_dir(out, script)  # absolute and locked before the script runs (it may chdir)
    # --json: stdout holds the JSON alone, so the script's own stdout goes to stderr
    redirect = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    doctor = Watch(out=out, probes=probes, budget=budget, every=every, script=str(script), quiet=quiet,
                   render=render, tensorboard=tensorboard)
    with redirect:
        with doctor:
            status, _ = runner.run(script, list(args), code)
    report = doctor.report
    verdict(report, as_json, quiet, f"doctor: {script} ({report['steps']} steps) -> {report['run_dir']}", stderr=True)
    return status  # the script's own status, as python gives it


WATCH_DEFAULTS = watch_script.__kwdefaults__
WATCH_TAKEN = "run dir {out} already exists; watch never replaces one: give --out a new folder"


def take_run_dir(out: Path | None, script: Path) -> Path:
    """The run dir, absolute, created, marked ours and locked by this process (until it ends):
    ``out``, or ``runs/watch-<script>-<time>-<pid>`` (two watches started in one second differ by
    pid; ``-2``, ``-3``... if even that is taken). BadInput if ``out`` holds anything or another
    process holds its lock ("in use by pid N")."""
    from babysitter.train.history import prepare_run_dir

    if out is None:
        base = Path("runs") / f"watch-{script.stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        out, n = base, 1
        while out.exists():
            n += 1
            out = base.with_name(f"{base.name}-{n}")
    out = Path(os.path.abspath(out))
    return prepare_run_dir(out, message=WATCH_TAKEN)


def parse_watch(args: list[str]) -> tuple[Path, list[str], dict] | None:
    """The words after ``babysit watch``: (SCRIPT, its own argv, watch's options), or None for typer
    (``--help``, an unknown option, a missing or unconvertible value, no SCRIPT)."""
    values = dict(WATCH_DEFAULTS)
    rest = list(args)
    while rest and rest[0].startswith("-"):
        name, eq, value = rest.pop(0).partition("=")
        if name in WATCH_FLAGS and not eq:
            key, flag = WATCH_FLAGS[name]
            values[key] = flag
            continue
        if name not in WATCH_OPTIONS or not (value or rest):
            return None
        key, kind = WATCH_OPTIONS[name]
        try:
            values[key] = kind(value or rest.pop(0))
        except (TypeError, ValueError):
            return None
    if not rest:
        return None
    return Path(rest[0]), rest[1:], values
