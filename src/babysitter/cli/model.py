"""Verbs that use a trained run: predict (one row per example) and export (a model file)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import typer

from babysitter.cli.app import JSON, QUIET, app, console_for
from babysitter.errors import BadInput


def predictions(run_dir: Path, inputs: Path, checkpoint: str = "last") -> dict:
    """``{"predictions": [{"id", "class", "probability"}], "accuracy": float | None}`` for the
    examples in ``inputs``; ``accuracy`` = #{argmax = label} / N when the input has labels."""
    from babysitter.model.inputs import read_input
    from babysitter.model.load import load

    predictor = load(run_dir, checkpoint=checkpoint)
    x, y, ids = read_input(predictor, inputs)
    proba = predictor.predict_proba(x)
    top = proba.argmax(1)
    rows = [{"id": i, "class": predictor.label(int(k)), "probability": float(p[k])} for i, k, p in zip(ids, top, proba)]
    accuracy = int((top == y).sum()) / len(y) if y is not None and len(y) else None
    return {"predictions": rows, "accuracy": accuracy}


def write_csv(rows: list[dict], out: Path) -> None:
    """id,class,probability rows, written to a temp file and renamed (never half-written; the
    umask's mode, or the replaced file's)."""
    import io

    from babysitter.files import write_atomic

    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=["id", "class", "probability"])
    w.writeheader()
    w.writerows(rows)
    write_atomic(out, text.getvalue())


@app.command()
def predict(run_dir: Path = typer.Argument(..., help="Run dir of a trained run."),
            inputs: Path = typer.Option(..., "--input", help=".npz/.npy; a CSV for a csv run; an image or folder for an image run."),
            out: Optional[Path] = typer.Option(None, "--out", help="Write id,class,probability rows to this CSV."),
            checkpoint: str = typer.Option("last", "--checkpoint", help="last (what final.json measured) | best (best val epoch)."),
            force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
            as_json: bool = JSON, quiet: bool = QUIET):
    """Predict with a trained run: class and probability per example (accuracy when labelled)."""
    if out is not None:
        if out.exists() and not force:
            raise BadInput(f"predict: {out} exists; pass --force to replace it")
        if not out.parent.is_dir():
            raise BadInput(f"predict: no folder {out.parent}")
    result = predictions(run_dir, inputs, checkpoint)
    if out is not None:
        write_csv(result["predictions"], out)
    if (console := console_for(result, as_json, quiet)) is None:
        return
    from rich.table import Table

    rows = result["predictions"]
    table = Table(title=f"predict: {run_dir} on {inputs}")
    for col in ("id", "class", "probability"):
        table.add_column(col)
    for r in rows[:20]:
        table.add_row(str(r["id"]), str(r["class"]), f"{r['probability']:.3f}")
    console.print(table)
    if len(rows) > 20:
        console.print(f"... {len(rows) - 20} more rows" + (f" in {out}" if out else " (--out FILE writes them all)"))
    if result["accuracy"] is not None:
        console.print(f"accuracy {result['accuracy']:.4f} on {len(rows)} labelled examples")


@app.command("export")
def export_cmd(run_dir: Path = typer.Argument(..., help="Run dir of a trained run."),
               format: str = typer.Option("onnx", "--format", help="onnx | torchscript"),
               out: Optional[Path] = typer.Option(None, "--out", help="Model file, or a folder for FOLDER/model.<ext> (default <run dir>/model.onnx or model.torchscript.pt)."),
               force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
               as_json: bool = JSON, quiet: bool = QUIET):
    """A self-contained model file: raw input in, scores out (preprocessing and batch norm folded in)."""
    from babysitter.model.export import export

    path = export(run_dir, format, out, force=force)
    result = {"model": str(path), "format": format}
    if (console := console_for(result, as_json, quiet)) is not None:
        console.print(f"exported {run_dir} as {format}: {path}", markup=False, highlight=False)
