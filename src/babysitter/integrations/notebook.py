"""The doctor in a notebook: ``%load_ext babysitter``, then a ``%%babysit`` cell.

``%%babysit [--out DIR] [--no-probes] [--budget S] [--every N] [--as NAME]`` runs the cell as
IPython would, inside ``babysitter.watch(...)``; when the cell ends (or fails), the verdict is the
cell's output: the findings as a table (severity, evidence, advice), the loss curve and the
instruments as embedded images (:mod:`babysitter.report.notebook`). ``--as NAME`` keeps the watch in
the notebook's namespace (``NAME.report``, ``NAME.findings``). Everything goes through the watch's
public API (:class:`~babysitter.doctor.watch.Watch`): ``start`` / ``close``.

``with babysitter.watch() as doctor:`` in a notebook shows the same verdict when the block ends.
"""

from __future__ import annotations

import shlex

USAGE = "%%babysit [--out DIR] [--no-probes] [--budget S] [--every N] [--as NAME]"


def parse(line: str) -> dict:
    """The magic's options -> Watch keyword arguments (+ ``name``). ValueError: one line, bad input."""
    words = shlex.split(line)
    opts = {"out": None, "probes": True, "budget": 30.0, "every": 25, "name": None}
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--no-probes":
            opts["probes"] = False
            i += 1
            continue
        key = {"--out": "out", "--budget": "budget", "--every": "every", "--as": "name"}.get(w)
        if key is None or i + 1 >= len(words):
            raise ValueError(f"%%babysit: {'unknown option ' + repr(w) if key is None else w + ' needs a value'}; "
                             f"usage: {USAGE}")
        value = words[i + 1]
        try:
            opts[key] = float(value) if key == "budget" else int(value) if key == "every" else value
        except ValueError:
            raise ValueError(f"%%babysit: {w} takes a number, got {value!r}") from None
        i += 2
    if opts["budget"] < 0 or opts["every"] < 1:
        raise ValueError(f"%%babysit: --budget must be >= 0 and --every >= 1; usage: {USAGE}")
    if opts["name"] is not None and not opts["name"].isidentifier():
        raise ValueError(f"%%babysit: --as takes a Python name, got {opts['name']!r}")
    return opts


def babysit(line: str, cell: str, shell=None):
    """The ``%%babysit`` cell magic: the cell runs under the doctor; the verdict is displayed by the
    watch as it closes (:func:`babysitter.report.notebook.show`). Returns nothing (no second copy)."""
    from IPython import get_ipython
    from IPython.core.error import UsageError

    from babysitter.doctor.watch import Watch

    shell = shell or get_ipython()
    try:
        opts = parse(line)
    except ValueError as e:
        raise UsageError(str(e)) from None
    name = opts.pop("name")
    doctor = Watch(script="%%babysit cell", render="now", **opts)
    if name:
        shell.user_ns[name] = doctor
    doctor.start()
    try:
        shell.run_cell(cell, store_history=False)
    finally:
        doctor.close()


def load_ipython_extension(ipython) -> None:
    """``%load_ext babysitter``: registers the ``%%babysit`` cell magic."""
    ipython.register_magic_function(lambda line, cell: babysit(line, cell, ipython), magic_kind="cell",
                                    magic_name="babysit")
