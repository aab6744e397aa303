"""A trained run dir -> a :class:`Predictor`: the model in eval mode with its saved preprocessing.

    >>> p = babysitter.load("runs/digits")
    >>> p.predict(x)            # x: (N, *input_shape) raw, as the source gave it -> (N,) class ids
    >>> p.predict_proba(x)      # (N, C) softmax probabilities
    >>> p.predict(["a.png"])    # an image run: image files, read as the training images were

What is read from the run dir: ``spec.yaml`` (the model to rebuild), ``data.json`` (the raw input
shape, class names, the CSV columns or image size), ``preprocess.pt`` (the statistics fitted on
train) and a checkpoint, loaded with ``weights_only=True``: ``checkpoints/last.pt`` -- the weights
final.json's test accuracy was measured on -- or ``best.pt`` (``checkpoint="best"``, the best
validation epoch). Scores are computed as the trainer evaluates: preprocessing on the whole input,
then the model in batches of ``train.eval_batch_size``. An independent ensemble (``members/<m>/``)
loads as one :class:`AveragedSoftmax` of its members: its probabilities are the members' average.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from babysitter.errors import BadInput


class Predictor:
    """The model of a run, ready to predict on raw inputs.

    ``model``: eval mode, on ``device``; ``preprocess``: the fitted Preprocessor or None;
    ``input_shape``: one raw example's shape; ``class_names``: the label of each class id (None:
    the ids are the labels); ``meta``: data.json.
    """

    def __init__(self, model: nn.Module, preprocess, spec, meta: dict, run_dir: Path, checkpoint: Path,
                 device: str = "cpu"):
        self.model, self.preprocess, self.spec, self.meta = model.eval(), preprocess, spec, meta
        self.run_dir, self.checkpoint, self.device = run_dir, checkpoint, torch.device(device)
        self.input_shape = tuple(meta["input_shape"])
        self.num_classes = int(meta["num_classes"])
        self.class_names: list[str] | None = meta.get("class_names")

    def __repr__(self) -> str:
        return (f"Predictor({str(self.run_dir)!r}, {self.checkpoint.name}, input {self.input_shape}, "
                f"{self.num_classes} classes)")

    def _repr_html_(self) -> str:
        """In a notebook: the run's final numbers, its diagnosis and its plots (embedded images)."""
        from babysitter.report.notebook import run_html

        return run_html(self.run_dir, repr(self))

    # ------------------------------------------------------------------ inputs
    def as_tensor(self, x) -> torch.Tensor:
        """Arrays, tensors, or image/CSV/npz paths -> float32 ``(N, *input_shape)``; one example
        of ``input_shape`` gets a batch axis."""
        if isinstance(x, (str, Path)) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], (str, Path))):
            from babysitter.model.inputs import read_input

            paths = [x] if isinstance(x, (str, Path)) else list(x)
            x = np.concatenate([read_input(self, Path(p))[0] for p in paths])
        t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float32))
        t = t.float()
        if tuple(t.shape) == self.input_shape:
            t = t[None]
        if tuple(t.shape[1:]) != self.input_shape:
            raise BadInput(f"predict: inputs of shape {tuple(t.shape[1:])} per example; the run was trained on "
                           f"{self.input_shape}")
        if not torch.isfinite(t).all():
            raise BadInput(f"predict: the input has {int((~torch.isfinite(t)).sum())} NaN/Inf value(s)")
        return t

    # ------------------------------------------------------------------ outputs
    @torch.inference_mode()
    def scores(self, x) -> torch.Tensor:
        """Raw input -> the model's scores (logits) ``(N, C)``, on the CPU."""
        t = self.as_tensor(x)
        if self.preprocess is not None:
            t = self.preprocess(t)
        bs = self.spec.train.eval_batch_size
        out = [self.model(t[i:i + bs].to(self.device)).float().cpu() for i in range(0, len(t), bs)]
        return torch.cat(out) if out else torch.empty(0, self.num_classes)

    def predict_proba(self, x) -> np.ndarray:
        """Softmax probabilities ``(N, C)``: ``p_k = exp(s_k) / sum_j exp(s_j)``."""
        return torch.softmax(self.scores(x), dim=1).numpy()

    def predict(self, x) -> np.ndarray:
        """Class ids ``(N,)``: ``argmax_k s_k`` (``class_names[id]`` is the label)."""
        return self.scores(x).argmax(1).numpy()

    def label(self, class_id: int):
        """The label of a class id: its name for a run with class names, else the id."""
        return self.class_names[class_id] if self.class_names else int(class_id)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read {path}: {e}") from None


def load(run_dir: str | Path, checkpoint: str = "last", device: str = "cpu") -> Predictor:
    """The :class:`Predictor` of a trained run dir; ``babysitter.load``.

    Args:
        run_dir: a run dir written by ``babysit train`` / ``run`` / ``babysitter.fit`` (spec.yaml,
            data.json, checkpoints/).
        checkpoint: ``"last"`` (default; the weights final.json's test numbers were measured on,
            best.pt when there is no last.pt) or ``"best"`` (the best validation epoch's weights).
        device: where the model runs (``"cpu"``, ``"cuda"``, ...).

    BadInput (one line) when the dir is not a finished run of this version. In a notebook the
    Predictor displays the run's final numbers, diagnosis and plots.
    """
    from babysitter.data.preprocess import Preprocessor
    from babysitter.nn.models import build_model
    from babysitter.spec import load_spec
    from babysitter.train.checkpoint import load_checkpoint

    run_dir = Path(run_dir)
    if not (run_dir / "spec.yaml").is_file():
        raise BadInput(f"{run_dir} is not a run dir: no spec.yaml there")
    spec = load_spec(run_dir / "spec.yaml")
    independent = spec.train.ensemble is not None and spec.train.ensemble.kind == "independent"
    if not (run_dir / "data.json").is_file():
        raise BadInput(f"{run_dir} has no data.json (trained before babysitter.load existed); train it again")
    meta = _read_json(run_dir / "data.json")
    if checkpoint not in ("last", "best"):
        raise BadInput(f"checkpoint must be 'last' or 'best', got {checkpoint!r}")
    order = ("last.pt", "best.pt") if checkpoint == "last" else ("best.pt",)
    homes = ([run_dir / "members" / str(m) for m in range(1, spec.train.ensemble.members + 1)] if independent
             else [run_dir])
    files = [next((h / "checkpoints" / n for n in order if (h / "checkpoints" / n).is_file()), None) for h in homes]
    if None in files:
        where = homes[files.index(None)]
        raise BadInput(f"{where} has no checkpoints/{order[0]}: the run ended before "
                       f"{'this member' if independent else 'its first epoch'} finished")
    pre = None
    if (run_dir / "preprocess.pt").is_file():
        pre = Preprocessor.from_state_dict(load_checkpoint(run_dir / "preprocess.pt"))
    raw = torch.zeros(1, *meta["input_shape"])
    sample_shape = (pre(raw) if pre is not None else raw).shape[1:]
    models = []
    for file in files:
        with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the caller's RNG alone
            model = build_model(spec.model, sample_shape, int(meta["num_classes"]))
        state = load_checkpoint(file)
        try:
            model.load_state_dict(state["model"])
        except (KeyError, RuntimeError) as e:
            raise BadInput(f"{file} does not fit the model spec.yaml describes: {str(e).splitlines()[0][:200]}") from None
        models.append(model)
    model = AveragedSoftmax(models) if independent else models[0]
    return Predictor(model.to(device), pre, spec, meta, run_dir, files[0], device)


class AveragedSoftmax(nn.Module):
    """An independent ensemble as one model: its scores are the log of the members' averaged
    softmax, ``s = log((1/M) sum_m softmax(f_m(x)))``, so ``softmax(s)`` is that average and
    ``argmax s`` its class -- what final.json's ``test_acc`` was measured on
    (:func:`babysitter.train.ensemble.average_softmax`, summed in the same member order).
    ``x: (N, ...) -> (N, C)``."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for m in self.members:
            p = torch.softmax(m(x), 1)
            total = p if total is None else total + p
        return torch.log(total / len(self.members))
