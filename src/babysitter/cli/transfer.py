"""The transfer verb: fine-tune from a pretrained run, or pretrain a source."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from babysitter.cli.app import JSON, QUIET, SET, app, emit, spec_from
from babysitter.errors import BadInput

@app.command("transfer")
def transfer_cmd(spec: Path = typer.Argument(..., help="Target run spec (YAML); with --pretrain, the source spec."),
                 source: Optional[Path] = typer.Option(None, "--from", help="Source run dir (best.pt/last.pt + spec.yaml) or checkpoint .pt."),
                 strategy: Optional[str] = typer.Option(None, "--strategy", help="linear_probe | finetune_top | finetune_all | auto (default: transfer.strategy)."),
                 pretrain: Optional[str] = typer.Option(None, "--pretrain", help="Pretrain SPEC as a source instead: supervised | autoencoder | shift."),
                 out: Optional[Path] = typer.Option(None, "--out", help="Run dir (default: runs/<name>-transfer or -<pretrain kind>, numbered)."),
                 force: bool = typer.Option(False, "--force", help="Replace an existing --out dir."),
                 sets: list[str] = SET, as_json: bool = JSON, quiet: bool = QUIET):
    """Transfer learning: fine-tune from a pretrained run dir or checkpoint (strategy or the lecture's 2x2 table), or --pretrain a source."""
    from babysitter.files import lock_dir
    from babysitter.train.history import TAKEN_NO_RESUME, check_run_dir, fresh_run_dir
    from babysitter.transfer import PRETRAIN, STRATEGIES, pretrain as run_pretrain, transfer

    if (source is None) == (pretrain is None):
        raise BadInput("usage: babysit transfer SPEC --from RUN_DIR|CHECKPOINT [--strategy S]   "
                       "or: babysit transfer SOURCE_SPEC --pretrain supervised|autoencoder|shift [--out DIR]")
    if strategy is not None and strategy not in (*STRATEGIES, "auto"):
        raise BadInput(f"--strategy: unknown strategy '{strategy}'; valid: {', '.join((*STRATEGIES, 'auto'))}")
    if pretrain is not None and pretrain not in PRETRAIN:
        raise BadInput(f"--pretrain: unknown kind '{pretrain}'; valid: {', '.join(PRETRAIN)}")
    resolved = spec_from(spec, sets)
    out = out if out is not None else fresh_run_dir("runs", f"{resolved.name}-{pretrain or 'transfer'}")
    progress = not (quiet or as_json)
    check_run_dir(out, force, TAKEN_NO_RESUME)  # before the source is read or any data loaded (no --resume here)
    with lock_dir(out):  # one writer through the plots
        if pretrain is not None:
            result = run_pretrain(resolved, out, pretrain, force=force, progress=progress)
        else:
            result = transfer(resolved, source, out, strategy=strategy, force=force, progress=progress)
        if (out / "metrics.jsonl").is_file():
            from babysitter.report.plots import plot_curves

            plot_curves(out)
    decision = result.get("transfer")
    if as_json or decision is None:
        emit({**result, "run_dir": str(out)}, as_json, quiet, f"{pretrain or 'transfer'}: {out}")
    else:
        shown = {k: v for k, v in result.items() if k != "transfer"}
        shown.update({f"transfer.{k}": decision[k] for k in ("strategy", "cell", "frozen", "reason") if k in decision})
        emit({**shown, "run_dir": str(out)}, False, quiet, f"transfer: {out}")


LAB_OUT = typer.Option(None, "--out", help="Output folder (default runs/lab/<name>, numbered).")
LAB_FORCE = typer.Option(False, "--force", help="Replace an existing --out folder.")
LAB_SEED = typer.Option(0, "--seed", help="Seed of every run of the lab (data split, weights, noise).")

