"""report.html: one self-contained page per run dir — what a person reads after ``babysit run``.

The page holds, in this order: the final metrics (final.json, an ensemble's members), the
doctor's diagnosis (diagnosis.json, ranked findings with evidence and advice), the preflight
probes (check.json: initial loss vs ln C, regularisation raises the loss, overfit 20 examples,
lr range test, gradient check), the curves (curves.png) and the instruments (instruments.png),
the resolved spec (spec.yaml) and the per-epoch metrics (metrics.jsonl). The treated run of
``babysit treat`` (a treat.json in the run dir) gets a first section: what was changed and why,
round by round, and the original vs treated accuracy (with ``../treat.png``).

Self-contained: PNGs are embedded as ``data:image/png;base64`` URIs, CSS is inline, no script and
no external resource, so the file can be mailed or archived alone. Every string read from the run
dir is HTML-escaped. A run dir with only some of these files (``babysit train`` has no check,
a killed run no final.json) gets the sections it can fill and a list of what is missing.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from babysitter.errors import BadInput
from babysitter.files import OURS, lock_dir, read_json, read_text, write_atomic

MISSING = {  # what a full ``babysit run`` dir holds, and what its absence means for the page
    "spec.yaml": "no spec.yaml: the spec is unknown and the run cannot be diagnosed",
    "metrics.jsonl": "no metrics.jsonl: no epoch finished, so no curves and no per-epoch table",
    "final.json": "no final.json: the run did not finish (killed?), so no test metrics",
    "diagnosis.json": "no diagnosis.json: the diagnosis below was made now from the run dir (not saved)",
    "check.json": "no check.json: the preflight probes did not run (babysit train runs none; babysit run does)",
    "doctor.json": "no doctor.json: trained without the doctor's instruments, so no instruments plot",
}
COLOUR = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1"}
MAX_ROWS = 60  # longer metrics tables are thinned to every k-th epoch (the last always shown)
CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1400px;padding:0 16px;color:#222}
h1{font-size:22px;margin-bottom:2px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
.sub{color:#666}table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;color:#fff;border-radius:4px;padding:1px 8px;font-weight:600}
.missing{background:#fff8e1;border-left:4px solid #d68910;padding:6px 12px}
figure{margin:10px 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#666;font-size:12px}
pre{background:#f7f7f7;padding:8px 12px;overflow:auto;font-size:12px}"""


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` (replacing an older one: it is derived output); returns its path."""
    return Path(build_report(run_dir)["report"])


def build_report(run_dir: str | Path) -> dict:
    """Write ``run_dir/report.html``; returns ``{"report": path, "figures": n, "findings": n}``.
    A dir with neither spec.yaml nor metrics.jsonl (nor ensemble members' metrics) is BadInput."""
    run_dir = Path(run_dir)
    metrics = _metrics_files(run_dir) if run_dir.is_dir() else []
    if not run_dir.is_dir() or not ((run_dir / "spec.yaml").is_file() or metrics):
        raise BadInput(f"{run_dir} is not a run dir: no spec.yaml or metrics.jsonl there")
    with lock_dir(run_dir):  # it writes plots and the page: not while another process trains there
        return _build_report(run_dir, metrics)


def _build_report(run_dir: Path, metrics: list[Path]) -> dict:
    diagnosis, diagnosis_note = _diagnosis(run_dir)
    figures = _figures(run_dir, metrics)
    name = _spec_name(run_dir) or run_dir.name
    probes = (_read_json(run_dir / "check.json") or {}).get("probes") or (diagnosis or {}).get("probes") or {}
    spec = read_text(run_dir / "spec.yaml", "spec") if (run_dir / "spec.yaml").exists() else "(no spec.yaml)"
    body = [_header(run_dir, name, metrics), *_treatment_section(run_dir),
            "<h2>Final metrics</h2>", _final_section(_read_json(run_dir / "final.json")),
            "<h2>Diagnosis</h2>", _diagnosis_section(diagnosis, diagnosis_note),
            "<h2>Preflight checks</h2>", _probes_section(probes),
            "<h2>Curves and instruments</h2>",
            *([_figure(path, caption) for path, caption in figures] or ["<p>no plots: no epoch finished</p>"]),
            "<h2>Spec (resolved)</h2>", f"<pre>{escape(spec)}</pre>",
            "<h2>Per-epoch metrics</h2>",
            *([_metrics_table(p, len(metrics) > 1) for p in metrics] or ["<p>no metrics.jsonl</p>"])]
    page = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>{escape(name)} — babysitter report</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    path = run_dir / "report.html"
    write_atomic(path, page)  # a directory in its place is BadInput; a failed write keeps the old page
    findings = (diagnosis or {}).get("findings", [])
    return {"report": str(path), "figures": len(figures), "findings": len(findings)}


def _header(run_dir: Path, name: str, metrics: list[Path]) -> str:
    """Title, run dir, dates (last file written in the run dir, and now) and what is missing."""
    written = max((p.stat().st_mtime for p in run_dir.iterdir() if p.name not in ("report.html", *OURS)),
                  default=run_dir.stat().st_mtime)  # the lock file is touched by this very report
    html = (f"<h1>{escape(name)}</h1><p class=sub>run dir {escape(str(run_dir))} &middot; last written "
            f"{datetime.fromtimestamp(written, timezone.utc):%Y-%m-%d %H:%M} UTC &middot; report made "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>")
    missing = [why for file, why in MISSING.items()
               if not (run_dir / file).is_file() and not (file == "metrics.jsonl" and metrics)]
    if missing:
        html += ("<div class=missing><b>missing</b><ul>" + "".join(f"<li>{escape(m)}</li>" for m in missing)
                 + "</ul></div>")
    return html


def _metrics_files(run_dir: Path) -> list[Path]:
    """metrics.jsonl, or each member's for an independent ensemble."""
    top = run_dir / "metrics.jsonl"
    return [top] if top.is_file() else sorted(run_dir.glob("members/*/metrics.jsonl"))


def _read_json(path: Path) -> dict | None:
    """A JSON record of the run dir, None if absent; a corrupted one is BadInput naming it."""
    return read_json(path, path.stem, default=None)


def _read_rows(path: Path) -> list[dict]:
    """metrics.jsonl rows; a last line cut short by a kill is skipped, other damage is BadInput."""
    from babysitter.train.history import History

    return History.read(path)


def _spec_name(run_dir: Path) -> str | None:
    import yaml

    try:
        raw = yaml.safe_load(read_text(run_dir / "spec.yaml", "spec"))
    except (BadInput, yaml.YAMLError):
        return None
    return str(raw["name"]) if isinstance(raw, dict) and raw.get("name") is not None else None


def _diagnosis(run_dir: Path) -> tuple[dict | None, str]:
    """diagnosis.json, else the doctor's diagnose(run_dir) made now (not written, as
    ``babysit diagnose`` writes nothing either); (None, why) when neither is possible."""
    saved = _read_json(run_dir / "diagnosis.json")
    if saved is not None:
        return saved, ""
    from babysitter.doctor.spec_run import diagnose

    try:
        return diagnose(run_dir), "made now from the run dir (no diagnosis.json)"
    except (BadInput, ValueError, KeyError) as e:
        return None, f"could not diagnose: {e}"


def _figures(run_dir: Path, metrics: list[Path]) -> list[tuple[Path, str]]:
    """curves.png and instruments.png, drawn now if missing or older than the records they plot."""
    from babysitter.report.plots import plot_curves, plot_instruments

    figures = []
    if any(_read_rows(p) for p in metrics):  # an empty metrics.jsonl: no epoch finished, nothing to draw
        curves = run_dir / "curves.png"
        if _stale(curves, metrics):
            plot_curves(run_dir)
        figures.append((curves, "loss (log scale), accuracy and learning rate per epoch; train blue, val orange"))
    doctor = run_dir / "doctor.json"
    if doctor.is_file():
        inst = run_dir / "instruments.png"
        if _stale(inst, [doctor]):
            plot_instruments(run_dir)
        figures.append((inst, "the doctor's instruments: loss trace, update/weight ratio (~1e-3), "
                              "gradient norms, activation std and dead/saturated fraction"))
    return [(p, c) for p, c in figures if p.is_file()]


def _stale(png: Path, sources: list[Path]) -> bool:
    return not png.is_file() or png.stat().st_mtime < max(s.stat().st_mtime for s in sources)


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{escape(path.name)}\">"
            f"<figcaption>{escape(path.name)}: {escape(caption)}</figcaption></figure>")


def _fmt(v) -> str:
    """4 significant digits for floats, '—' for None/NaN (strict JSON stores NaN as null)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def _table(rows: list[tuple], header: tuple | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
    cells = lambda r: "".join(f"<td class=n>{escape(_fmt(v))}</td>" if isinstance(v, (int, float)) and  # noqa: E731
                              not isinstance(v, bool) else f"<td>{escape(_fmt(v))}</td>" for v in r)
    return "<table>" + head + "".join(f"<tr>{cells(r)}</tr>" for r in rows) + "</table>"


def _final_section(final: dict | None) -> str:
    if final is None:
        return "<p>no final.json: the run did not finish</p>"
    members = final.get("members")
    scalars = [(k, v) for k, v in final.items() if k != "members"]
    html = _table(scalars)
    if isinstance(members, list) and members:
        html += "<p>ensemble members</p>" + _table([(m.get("name"), m.get("test_acc")) for m in members],
                                                   ("member", "test_acc"))
    return html


def _diagnosis_section(diagnosis: dict | None, note: str) -> str:
    if diagnosis is None:
        return f"<p>{escape(note)}</p>"
    healthy = diagnosis.get("healthy")
    badge = (f"<span class=badge style=\"background:{'#27ae60' if healthy else '#c0392b'}\">"
             f"{'healthy' if healthy else 'NOT healthy'}</span>")
    html = f"<p>{badge} {escape(note)}</p>"
    findings = diagnosis.get("findings", [])
    if not findings:
        return html + "<p>no findings</p>"
    rows = "".join(
        f"<tr><td class=n>{n}</td><td><span class=badge style=\"background:{COLOUR.get(f.get('severity'), '#777')}\">"
        f"{escape(str(f.get('severity')))}</span></td><td><b>{escape(str(f.get('id')))}</b></td>"
        f"<td>{escape(_fmt(f.get('layer')))}</td><td>{escape(str(f.get('evidence')))}</td>"
        f"<td>{escape(str(f.get('advice')))}</td></tr>" for n, f in enumerate(findings, 1))
    return (html + "<table><tr><th>#</th><th>severity</th><th>id</th><th>layer</th><th>evidence</th>"
            "<th>advice</th></tr>" + rows + "</table>")


def _treatment_section(run_dir: Path) -> list[str]:
    """``babysit treat``'s rounds (finding treated, changes old -> new, kept or undone) and the
    before/after accuracies; nothing for a run dir without treat.json."""
    t = _read_json(run_dir / "treat.json")
    if t is None:
        return []
    rows = [(n, r.get("treated") or "random", r.get("why") or "", "; ".join(f"{k}: {_fmt(o)} -> {_fmt(v)}" for k, (o, v) in
                                                       (r.get("changes") or {}).items()),
             ", ".join(r.get("findings", [])), "kept" if r.get("kept") else "undone (worse)",
             ", ".join(r.get("found_after", [])) or "healthy")
            for n, r in enumerate(t.get("rounds", []), 1)]
    html = ["<h2>Treatment (babysit treat)</h2>",
            f"<p>{'healthy' if t.get('healthy') else 'NOT healthy'} after {len(rows)} round(s)</p>",
            _table(rows, ("round", "finding treated", "why (its evidence)", "changes", "alarms before", "result", "alarms after"))
            if rows else "<p>no change: the doctor found the spec healthy</p>",
            _table([(side, (t.get(side) or {}).get("val_acc"), (t.get(side) or {}).get("test_acc"))
                    for side in ("before", "after")], ("run", "val_acc", "test_acc"))]
    plot = run_dir.parent / "treat.png"
    if plot.is_file():
        html.append(_figure(plot, "original (grey) vs treated (green), same seed"))
    return html


def _probes_section(p: dict) -> str:
    """The lecture's sanity checks with what each should read."""
    if not any(k in p for k in ("init_loss", "overfit_tiny", "lr_range", "gradcheck_max_rel_error")):
        return "<p>no preflight probes (no check.json)</p>"
    tiny, lr, gc = p.get("overfit_tiny") or {}, p.get("lr_range") or {}, p.get("gradcheck") or {}
    rows = [("initial loss", p.get("init_loss"),
             f"≈ ln C = {_fmt(p.get('expected_init_loss'))} (softmax, small weights)"),
            ("regularisation raises the loss by", p.get("reg_loss_delta"), "> 0 when l1/l2 is on, 0 without"),
            (f"overfit {_fmt(tiny.get('examples'))} examples: train acc after {_fmt(tiny.get('steps'))} steps",
             tiny.get("train_acc"), "1.0 (a net that cannot overfit a tiny set has a bug)"),
            ("lr range test: suggested lr", lr.get("suggested"),
             f"inside the band where the loss falls: {_fmt(lr.get('low'))} to {_fmt(lr.get('high'))}"),
            ("gradient check: max relative error", p.get("gradcheck_max_rel_error"),
             "< 1e-4 in float64" + (f" (read: {gc['reading']})" if gc.get("reading") else ""))]
    return _table(rows, ("probe", "measured", "should read"))


def _metrics_table(path: Path, tagged: bool) -> str:
    rows = _read_rows(path)
    if not rows:
        return f"<p>{escape(path.name)} is empty: no epoch finished</p>"
    keys = ("epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
    k = max(1, math.ceil(len(rows) / MAX_ROWS))
    shown = rows[::k] + ([rows[-1]] if rows and (len(rows) - 1) % k else [])
    caption = f"<p>{escape(path.parent.name)}</p>" if tagged else ""
    note = f"<p class=sub>every {k}th of {len(rows)} epochs shown</p>" if k > 1 else ""
    return caption + note + _table([tuple(r.get(key) for key in keys) for r in shown], keys)
