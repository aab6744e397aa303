"""The doctor's verdict in a notebook: rich displays (``_repr_html_``) of a watch, its report and a
trained run, built from the same files and plots as report.html. Self-contained HTML: the figures
are PNGs embedded as ``data:image/png;base64`` URIs, nothing is fetched, no script.

``show(watch)`` displays a closed watch's verdict when (and only when) it runs in an IPython kernel.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import warnings
import weakref
from html import escape
from pathlib import Path

COLOUR = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1"}
STYLE = ("<style>.babysitter table{border-collapse:collapse;font-size:12px}.babysitter td,.babysitter th"
         "{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
         ".babysitter .badge{color:#fff;border-radius:3px;padding:1px 5px}.babysitter img{max-width:100%}</style>")


class Report(dict):
    """The doctor's report (``{"healthy", "findings", "probes", "script", "steps", "run_dir"}``), a
    plain dict (JSON as before) that displays as a findings table in a notebook and prints compactly."""

    def __repr__(self) -> str:
        return f"Report({compact(self)})"

    def _repr_html_(self) -> str:
        return verdict_html(self, self.get("script") or "doctor")


def compact(report: dict) -> str:
    """One line: healthy or not, the finding ids most likely first, steps, the run dir."""
    ids = ", ".join(f["id"] for f in report.get("findings", [])) or "no findings"
    where = f", run dir {report['run_dir']}" if report.get("run_dir") else ""
    return (f"{'healthy' if report.get('healthy') else 'NOT healthy'}: {ids}; "
            f"{report.get('steps', '?')} steps{where}")


def verdict_html(report: dict, title: str, figures: list[tuple[str, str]] = ()) -> str:
    """The findings as a table (severity, id, layer, evidence, advice), the verdict badge, then the
    ``figures`` (name, base64 PNG)."""
    healthy = report.get("healthy")
    word, colour = {True: ("healthy", "#27ae60"), False: ("NOT healthy", "#c0392b")}.get(
        healthy, ("not diagnosed (no diagnosis.json)", "#777"))
    badge = (f"<span class=badge style=\"background:{colour}\" data-healthy=\"{str(healthy).lower()}\">"
             f"{word}</span>")
    steps = f" ({report['steps']} steps)" if report.get("steps") is not None else ""
    html = [STYLE, "<div class=babysitter>", f"<p><b>{escape(str(title))}</b>{escape(steps)}: {badge}</p>"]
    findings = report.get("findings", [])
    if findings:
        html.append("<table><tr><th>#</th><th>severity</th><th>finding</th><th>layer</th><th>evidence</th>"
                    "<th>advice</th></tr>")
        for n, f in enumerate(findings, 1):
            sev = str(f.get("severity"))
            html.append(f"<tr data-finding=\"{escape(str(f.get('id')))}\"><td>{n}</td><td><span class=badge "
                        f"style=\"background:{COLOUR.get(sev, '#777')}\">{escape(sev)}</span></td>"
                        f"<td><b>{escape(str(f.get('id')))}</b></td><td>{escape(str(f.get('layer') or ''))}</td>"
                        f"<td>{escape(str(f.get('evidence')))}</td><td>{escape(str(f.get('advice')))}</td></tr>")
        html.append("</table>")
    elif healthy is not None:
        html.append("<p>no findings</p>")
    for name, data in figures:
        html.append(f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{escape(name)}\">"
                    f"<figcaption>{escape(name)}</figcaption></figure>")
    html.append("</div>")
    return "".join(html)


def run_figures(run_dir: str | Path) -> list[tuple[str, str]]:
    """curves.png and instruments.png of a run dir as (name, base64): drawn into a temp copy of the
    dir's metrics.jsonl / doctor.json when the dir holds none yet (a background render not done)."""
    run_dir = Path(run_dir)
    with tempfile.TemporaryDirectory(prefix="babysitter-nb-") as tmp:
        for name in ("metrics.jsonl", "doctor.json"):
            if (run_dir / name).is_file():
                shutil.copy(run_dir / name, Path(tmp) / name)
        drawn = dict(_draw(Path(tmp)))
        for name in ("curves.png", "instruments.png"):
            if name not in drawn and (run_dir / name).is_file():
                drawn[name] = base64.b64encode((run_dir / name).read_bytes()).decode("ascii")
        return [(n, drawn[n]) for n in ("curves.png", "instruments.png") if n in drawn]


def _draw(d: Path) -> list[tuple[str, str]]:
    """The run dir's plots drawn in ``d`` (which holds metrics.jsonl / doctor.json), as base64."""
    from babysitter.report.plots import plot_curves, plot_instruments

    out = []
    with warnings.catch_warnings():   # empty panels warn: the notebook's output holds the verdict only
        warnings.simplefilter("ignore")
        for name, plot in (("curves.png", plot_curves), ("instruments.png", plot_instruments)):
            source = d / ("metrics.jsonl" if name == "curves.png" else "doctor.json")
            if not source.is_file() or not source.stat().st_size:
                continue
            try:
                path = plot(d)
            except Exception:  # noqa: BLE001 - a picture is a view: the verdict shows without it
                continue
            if path is not None and Path(path).is_file():
                out.append((name, base64.b64encode(Path(path).read_bytes()).decode("ascii")))
    return out


def watch_figures(w, report: dict | None = None) -> list[tuple[str, str]]:
    """A closed watch's loss curve and instruments: from its run dir, or (``out=None``) from what it
    saw, written to a temp dir only for the drawing."""
    run_dir = (report or w.report).get("run_dir")
    if run_dir:
        return run_figures(run_dir)
    from babysitter.doctor.instruments import LossTrace, summaries
    from babysitter.doctor.watch.report import epoch_rows, replay_trace
    from babysitter.files import dumps, write_json

    sums = summaries([t for t in w.tools if not isinstance(t, LossTrace)])
    sums["LossTrace"] = replay_trace(w)
    with tempfile.TemporaryDirectory(prefix="babysitter-nb-") as tmp:
        write_json(Path(tmp) / "doctor.json", sums)
        (Path(tmp) / "metrics.jsonl").write_text("".join(dumps(r) + "\n" for r in epoch_rows(w)))
        return _draw(Path(tmp))


_DRAWN: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def watch_html(w) -> str:
    if w.report is None:
        return f"<p>babysitter: watching, {w.step} steps so far</p>"
    if w not in _DRAWN:   # drawn once: a notebook asks on every display
        _DRAWN[w] = verdict_html(w.report, f"doctor: {w.report.get('script') or 'watch'}", watch_figures(w))
    return _DRAWN[w]


def in_kernel() -> bool:
    """True inside an IPython kernel (Jupyter, VS Code, nbclient): where display() renders HTML."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(w, report: dict | None = None) -> bool:
    """Display a closed watch in the notebook it runs in; nothing outside a kernel, nothing for a
    ``quiet`` watch unless a host passes its final ``report`` (drawn with the watch's figures).
    True when something was displayed."""
    if not in_kernel() or (report is None and w.quiet):
        return False
    from IPython.display import HTML, display

    if report is None:
        display(w)
    else:
        display(HTML(verdict_html(report, f"doctor: {report.get('script') or 'watch'}", watch_figures(w, report))))
    return True


def run_html(run_dir: str | Path, title: str) -> str:
    """A trained run dir in a notebook: final.json's numbers, the diagnosis (diagnosis.json, when the
    doctor ran) as the findings table, and the curves and instruments as embedded images."""
    import json

    run_dir = Path(run_dir)

    def read(name):
        try:
            return json.loads((run_dir / name).read_text())
        except (OSError, ValueError):
            return None

    final, diagnosis = read("final.json") or {}, read("diagnosis.json")
    numbers = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(_short(v))}</td></tr>" for k, v in final.items()
                      if isinstance(v, (int, float, str)) or v is None)
    head = f"<table>{numbers}</table>" if numbers else "<p>no final.json: the run did not finish</p>"
    figures = run_figures(run_dir)
    body = verdict_html(diagnosis or {"healthy": None, "findings": []}, title, figures)
    return body.replace("<div class=babysitter>", "<div class=babysitter>" + head, 1)


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
