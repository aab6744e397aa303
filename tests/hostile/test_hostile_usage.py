"""Usage errors of every verb, found by walking the typer app, so a verb added later is held to
the same rule: exit 2, one or two lines on stderr (no 4-line usage block), no traceback."""

import pytest

from tests.conftest import run_main
from tests.hostile.promise import refused


def command_paths():
    """Every leaf command of the app as its words on the command line (``["lab", "init-stats"]``)."""
    import typer

    from babysitter.cli import app

    def walk(group, prefix):
        for name, cmd in sorted(group.commands.items()):
            if getattr(cmd, "commands", None):
                yield from walk(cmd, [*prefix, name])
            else:
                yield [*prefix, name]

    return list(walk(typer.main.get_command(app), []))


COMMANDS = command_paths()


def test_the_walk_finds_the_verbs():
    found = {" ".join(c) for c in COMMANDS}
    assert {"train", "run", "check", "diagnose", "search", "transfer", "report", "list", "gradcheck", "clinic",
            "lab init-stats"} <= found


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_an_unknown_option(words, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, *words, "--no-such-option")
    refused(code, out, err)
    assert "--no-such-option" in err and "Usage:" not in err


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_quiet_and_json_are_accepted_by_every_verb(words):
    """Every verb takes --json and --quiet (-q), as the design says."""
    import typer

    from babysitter.cli import app

    cmd = typer.main.get_command(app)
    for w in words:
        cmd = cmd.commands[w]
    flags = {o for p in cmd.params for o in p.opts}
    assert {"--json", "--quiet", "-q"} <= flags, flags


@pytest.mark.parametrize("args", [["train", "spec.yaml", "--out"], ["search", "s.yaml", "--trials", "many"],
                                  ["lab", "no-such-lab"], ["no-such-verb"], ["gradcheck"],
                                  ["train", "--resume", "somewhere", "--force"]])
def test_malformed_command_lines(args, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, *args)
    refused(code, out, err)
