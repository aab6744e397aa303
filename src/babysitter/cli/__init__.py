"""The ``babysit`` command line: one module per verb group, all on the one typer ``app``.

Each verb module registers its commands on ``babysitter.cli.app.app`` when imported; importing
this package imports them all, so ``main`` sees every verb.
"""

# Imported for their side effect, in the order `babysit --help` lists them.
from babysitter.cli import train  # noqa: F401, I001
from babysitter.cli import watch, treat, search, transfer, lab, model, tools  # noqa: F401, E402
from babysitter.cli.app import app, main

__all__ = ["app", "main"]
