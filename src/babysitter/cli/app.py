"""The ``babysit`` app and what every verb shares: spec loading with --set, the --json/--quiet
switch, the result table and the findings view, and ``main`` (exit 0 / 1 / 2 / 130).

Exit status: 0 done, 1 the run itself failed (e.g. the loss diverged), 2 bad input (one line on
stderr, nothing overwritten). ``--json`` prints only the machine-readable result on stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from babysitter.errors import BadInput, Terminated, exit_on_error
from babysitter.report.console import console_for, verdict  # noqa: F401  (the verbs import them from here)

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


def emit(result: dict, as_json: bool, quiet: bool, title: str) -> None:
    if (console := console_for(result, as_json, quiet)) is None:
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_header=False)
    for k, v in result.items():
        table.add_row(k, Text(f"{v:.4g}" if isinstance(v, float) else str(v)))
    console.print(table)


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
    or a usage error (one line, no usage block), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
    (The console script reads ``babysit watch`` without typer first: :mod:`babysitter.babysit`.)"""
    args = sys.argv[1:]
    # `watch` passes its arguments to the user's script, whose own output must stay untouched
    if args[:1] != ["watch"] and {"--quiet", "-q", "--json"} & set(args):
        quiet_libraries()
    if args[:1] != ["watch"]:  # a watched script gets python's own SIGTERM (it dies, 143)
        on_sigterm()
    exit_on_error(run_typer)


def run_typer() -> int:
    """typer's parse and run of ``sys.argv``, its own errors in one line (exit 2; ours: :func:`exit_on_error`)."""
    # typer >= 0.2x vendors its click as typer._click (no `click` package): its exception classes
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    try:
        code = app(standalone_mode=False)  # usage errors come here, in one line
    except NoArgsIsHelpError as e:  # `babysit` / `babysit lab` alone: the help, as before
        print(e.ctx.get_help() if e.ctx is not None else e.format_message(), file=sys.stderr)
        sys.exit(2)
    except UsageError as e:
        print(usage_error(e), file=sys.stderr)
        sys.exit(2)
    except ClickException as e:  # e.g. a --file option naming a missing file
        print(f"babysit: error: {' '.join(e.format_message().split())}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort as e:
        if isinstance(e.__cause__, EOFError):  # click turns an EOFError (an empty file read by a library) into Abort
            print(f"babysit: internal error: EOFError: {e.__cause__} (a bug in babysitter; BABYSIT_TRACEBACK=1 "
                  f"shows where)", file=sys.stderr)
            sys.exit(1)
        print("babysit: interrupted", file=sys.stderr)
        sys.exit(130)
    if code == 130:  # typer turned a Ctrl-C outside a training run into Exit(130), silently
        print("babysit: interrupted", file=sys.stderr)
    return code if isinstance(code, int) else 0
