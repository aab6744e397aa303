"""The ``babysit`` console script: ``babysit watch`` read and run without typer where it can be
(:mod:`babysitter.watching`: a watched script's time includes the watch's start-up), every other
verb through typer (:mod:`babysitter.cli`)."""

from __future__ import annotations

import sys


def main() -> None:
    """``babysit``: exit 0 done, 1 the run failed, 2 bad input (one line), 130 Ctrl-C, 143 SIGTERM;
    ``babysit watch``: the script's own status."""
    if sys.argv[1:2] == ["watch"]:
        from babysitter.watching import parse_watch, watch_script

        parsed = parse_watch(sys.argv[2:])
        if parsed is not None:
            from babysitter.errors import exit_on_error

            script, args, options = parsed
            exit_on_error(lambda: watch_script(script, args, **options))   # exits
    from babysitter.cli import main as typer_main

    typer_main()


if __name__ == "__main__":
    main()
