"""The ``babysit`` app and what every verb shares: spec loading with --set, the --json/--quiet
switch, the result table and the findings view, and ``main`` (exit 0 / 1 / 2 / 130).

Exit status: 0 done, 1 the run itself failed (e.g. the loss diverged), 2 bad input (one line on
stderr, nothing overwritten). ``--json`` prints only the machine-readable result on stdout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import typer

from babysitter.errors import BadInput, CannotWrite, Interrupted, Terminated, TrainingFailed
from babysitter.files import dumps

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Train neural networks the CS231n way, with a doctor watching.")

JSON = typer.Option(False, "--json", help="Print the machine-readable result on stdout, nothing else.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar or summary.")
SET = typer.Option([], "--set", help="Override a spec key, e.g. --set optim.lr=0.01 (repeatable).")


def spec_from(path: Optional[Path], sets: list[str]):
    from babysitter.spec import load_spec, override

    spec = load_spec(path)
    pairs = set_pairs(sets)
    return override(spec, **pairs) if pairs else spec


def set_pairs(sets: list[str]) -> dict:
    """``--set key=value`` items as ``{key: value}`` (values read as YAML); BadInput in one line."""
    import yaml

    pairs = {}
    for item in sets:
        if "=" not in item:
            raise BadInput(f"--set expects key=value (e.g. optim.lr=0.01), got '{item}'")
        key, value = item.split("=", 1)
        try:
            pairs[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise BadInput(f"--set {key}: cannot read the value '{value}' as YAML ({getattr(e, 'problem', None) or e})") from None
    return pairs


def console_for(result, as_json: bool, quiet: bool, **options):
    """Where a verb's result goes: ``--json`` prints ``result`` alone on stdout (None returned),
    ``--quiet`` prints nothing (None); else a rich Console (``options``) for the human view."""
    if as_json:
        sys.stdout.write(dumps(result) + "\n")  # NaN/inf as null: stdout holds valid JSON
        return None
    if quiet:
        return None
    from rich.console import Console

    return Console(**options)


def emit(result: dict, as_json: bool, quiet: bool, title: str) -> None:
    if (console := console_for(result, as_json, quiet)) is None:
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_header=False)
    for k, v in result.items():
        table.add_row(k, Text(f"{v:.4g}" if isinstance(v, float) else str(v)))
    console.print(table)



def verdict(report: dict, as_json: bool, quiet: bool, title: str, **options) -> None:
    """The findings, most likely first (``options``: the Console's, e.g. ``stderr=True``)."""
    if (console := console_for(report, as_json, quiet, highlight=False, **options)) is None:
        return
    from babysitter.report.console import print_verdict

    print_verdict(report, title, console)


def quiet_libraries() -> None:
    """Keep third-party log lines (Optuna's ``[I ...]`` trial lines, warnings) off stderr: for
    ``--quiet`` / ``--json``, where stderr carries only our own one-line errors."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    for name in ("optuna", "lightning", "lightning.pytorch", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
    except ImportError:
        pass


def usage_error(e) -> str:
    """A click usage error in one line: what is wrong, and the command's --help to read."""
    ctx = getattr(e, "ctx", None)
    words = []  # the verb words up from the root, which is `babysit` however it was started
    while ctx is not None and ctx.parent is not None:
        words.insert(0, ctx.info_name)
        ctx = ctx.parent
    ctx = getattr(e, "ctx", None)
    where = f" (see: {' '.join(['babysit', *words])} --help)" if ctx is not None else ""
    return f"babysit: error: {' '.join(e.format_message().split())}{where}"


FAST_VERBS = ("watch",)  # verbs whose start-up is part of a measured overhead (bench/watch.py)


def fast_parse(args: list[str]):
    """``babysit watch [OPTIONS] SCRIPT [ARGS...]`` parsed straight from the click parameters typer
    built for it, with plain Python conversions (bool, int, float, str, Path): ``(function,
    extra args, keyword arguments)``. Typer's own parse converts every non-bool value through a
    pydantic TypeAdapter, whose import costs 0.1-0.2 s of CPU -- 2-3 % of a short watched script.
    None (typer parses, with its help and its one-line errors) for anything else: --help, an
    unknown option, a missing or unconvertible value."""
    import inspect
    import typing

    if not args or args[0] not in FAST_VERBS:
        return None
    import typer.main

    info = next(i for i in app.registered_commands
                if (i.name or typer.main.get_command_name(i.callback.__name__)) == args[0])
    try:   # this verb's command alone (the whole group evaluates every verb's annotations: ~8 ms)
        cmd = typer.main.get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None)
    except TypeError:   # another typer's signature
        cmd = typer.main.get_command(app).commands[args[0]]
    func = getattr(cmd.callback, "__wrapped__", cmd.callback)
    hints = typing.get_type_hints(func)
    kinds = {n: next((a for a in typing.get_args(t) if a is not type(None)), t) for n, t in hints.items()}
    values = {p.name: p.default for p in cmd.params}
    flags, options = {}, {}
    for p in cmd.params:
        if p.param_type_name == "option":
            for o in p.opts:
                (flags if p.is_flag else options)[o] = (p.name, True)
            for o in p.secondary_opts:
                flags[o] = (p.name, False)
    rest = list(args[1:])
    while rest and rest[0].startswith("-"):
        name, _, value = rest.pop(0).partition("=")
        if name in flags and not value:
            values[flags[name][0]] = flags[name][1]
            continue
        if name not in options or not (value or rest):
            return None
        key = options[name][0]
        try:
            values[key] = kinds.get(key, str)(value or rest.pop(0))
        except (TypeError, ValueError):
            return None
    positional = [p for p in cmd.params if p.param_type_name == "argument"]
    if len(rest) < len(positional):
        return None
    for p in positional:
        values[p.name] = kinds.get(p.name, str)(rest.pop(0))
    return func, rest, {n: values[n] for n in inspect.signature(func).parameters if n != "ctx"}


def run_fast(parsed) -> int:
    func, extra, kwargs = parsed
    try:
        func(SimpleNamespace(args=extra), **kwargs)
    except typer.Exit as e:
        return e.exit_code
    return 0


def on_sigterm() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread (python's default would die at once,
    mid-write, with the lock file's holder gone but no line said): the run unwinds as for Ctrl-C."""
    import signal

    def terminated(signum, frame):
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread (an embedding host): leave its handler alone
        pass


def main() -> None:
    """Run the app; exit 0 done, 1 the run failed (or a file could not be written), 2 bad input
    or a usage error (one line, no usage block), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)."""
    # typer >= 0.2x vendors its click as typer._click (no `click` package): its exception classes
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    args = sys.argv[1:]
    # `watch` passes its arguments to the user's script, whose own output must stay untouched
    if args[:1] != ["watch"] and {"--quiet", "-q", "--json"} & set(args):
        quiet_libraries()
    if args[:1] != ["watch"]:  # a watched script gets python's own SIGTERM (it dies, 143)
        on_sigterm()
    try:
        parsed = fast_parse(args)
        code = run_fast(parsed) if parsed else app(standalone_mode=False)  # usage errors come here, in one line
    except NoArgsIsHelpError as e:  # `babysit` / `babysit lab` alone: the help, as before
        print(e.ctx.get_help() if e.ctx is not None else e.format_message(), file=sys.stderr)
        sys.exit(2)
    except UsageError as e:
        print(usage_error(e), file=sys.stderr)
        sys.exit(2)
    except ClickException as e:  # e.g. a --file option naming a missing file
        print(f"babysit: error: {' '.join(e.format_message().split())}", file=sys.stderr)
        sys.exit(2)
    except BadInput as e:
        print(f"babysit: error: {e}", file=sys.stderr)
        sys.exit(2)
    except CannotWrite as e:
        print(f"babysit: error: {e}", file=sys.stderr)
        sys.exit(1)
    except TrainingFailed as e:
        print(f"babysit: the run failed: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:  # a fault of the machine no classified path caught: still one line
        print(f"babysit: error: {e.filename or 'I/O'}: {e.strerror or e}", file=sys.stderr)
        sys.exit(1)
    except Interrupted as e:  # a training run: its last good checkpoint kept, the way to go on named
        print(f"babysit: {e}", file=sys.stderr)
        sys.exit(e.status)
    except Terminated:
        print("babysit: terminated", file=sys.stderr)
        sys.exit(143)
    except typer.Abort as e:
        if isinstance(e.__cause__, EOFError):  # click turns an EOFError (an empty file read by a library) into Abort
            print(f"babysit: internal error: EOFError: {e.__cause__} (a bug in babysitter; BABYSIT_TRACEBACK=1 "
                  f"shows where)", file=sys.stderr)
            sys.exit(1)
        print("babysit: interrupted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("babysit: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001  a bug of ours, not the user's: still one line (git's "BUG:")
        if os.environ.get("BABYSIT_TRACEBACK"):
            raise
        print(f"babysit: internal error: {type(e).__name__}: {' '.join(str(e).split())[:300]} "
              f"(a bug in babysitter; BABYSIT_TRACEBACK=1 shows where)", file=sys.stderr)
        sys.exit(1)
    if code == 130 and parsed is None:  # typer turned a Ctrl-C outside a training run into Exit(130), silently
        print("babysit: interrupted", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
