"""Pretraining a source network (CS231n: with no similar labelled data, pretrain without labels
or on an auxiliary task). Every kind writes an ordinary run dir that ``babysit transfer --from``
reads: spec.yaml, checkpoints/last.pt ``{"model": state_dict}`` of the classifier
architecture, preprocess.pt and final.json.

supervised   an ordinary run on the source task (labels of the source classes).
autoencoder  unlabeled inputs only: encoder = the classifier's backbone (every block below the
             head, features h: (N, D)), decoder g = Linear(D, 256) -> ReLU -> Linear(256, prod(shape));
             minimise the reconstruction error  L = (1/N) sum_n ||g(h(x_n)) - x_n||^2 / prod(shape)
             with Adam (lr 1e-3) for train.epochs epochs of train.batch_size. The encoder is transferred.
shift        an auxiliary self-supervised task: each input is rolled along its last axis by
             s in {-S, ..., S}, S = max(1, L // 8) for length / width L, and the network
             classifies s (2S + 1 classes) -- an ordinary run on (rolled x, s); the spec's own
             augmentation is switched off (it would blur the label).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from babysitter.data import Dataset, load_data
from babysitter.nn.models import build_model
from babysitter.spec import RunSpec, override
from babysitter.files import lock_dir
from babysitter.train import run
from babysitter.train.checkpoint import save_atomic
from babysitter.train.history import TAKEN_NO_RESUME, check_run_dir, write_json
from babysitter.train.trainer import pick_device
from babysitter.transfer.freeze import head_linear

PRETRAIN = ("supervised", "autoencoder", "shift")


def pretrain(spec: RunSpec, out: str | Path | None, kind: str | None = None, *, force: bool = False,
             progress: bool = True, data: Dataset | None = None) -> dict:
    """Pretrain ``spec``'s model as ``kind`` says (default ``spec.transfer.pretrain``); returns final.json's content."""
    kind = kind or spec.transfer.pretrain
    check_run_dir(out, force, TAKEN_NO_RESUME)
    if kind == "supervised":
        return {**run.train(spec, out, data=data, force=force, progress=progress), "pretrain": "supervised"}
    data = data if data is not None else load_data(spec.data, spec.seed)
    if kind == "shift":
        return _shift(spec, data, out, force, progress)
    return _autoencoder(spec, data, out, force, progress)


def roll_last(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Each ``x[n]`` rolled by ``shifts[n]`` along its last axis (circularly): ``x: (N, ..., L)``."""
    length = x.shape[-1]
    idx = (torch.arange(length) - shifts.view(-1, *[1] * (x.dim() - 1))) % length
    return torch.gather(x, -1, idx.expand_as(x))


def shift_task(data: Dataset, seed: int) -> Dataset:
    """The pretext data set: every split's inputs rolled by a random s, labelled s + S."""
    s_max = max(1, data.sample_shape[-1] // 8)
    g = torch.Generator().manual_seed(seed)
    splits = []
    for x in (data.x_train, data.x_val, data.x_test):
        s = torch.randint(-s_max, s_max + 1, (len(x),), generator=g)
        splits += [roll_last(x, s), s + s_max]
    return Dataset(*splits, num_classes=2 * s_max + 1, name=f"{data.name}-shift", preprocess=data.preprocess)


def _shift(spec, data, out, force, progress) -> dict:
    spec = override(spec, **{"data.augment": []})
    task = shift_task(data, spec.seed)
    final = run.train(spec, out, data=task, force=force, progress=progress)
    final.update(pretrain="shift", shift_classes=task.num_classes)
    if out is not None:
        write_json(Path(out) / "final.json", final)
    return final


class Autoencoder(nn.Module):
    """x -> encoder (the classifier up to its head's input, (N, D)) -> decoder -> (N, prod(shape))."""

    def __init__(self, classifier: nn.Module, sample_shape, hidden: int = 256):
        super().__init__()
        self.classifier = classifier
        _, self.head = head_linear(classifier)
        d_out = math.prod(sample_shape)
        self.decoder = nn.Sequential(nn.Linear(self.head.in_features, hidden), nn.ReLU(), nn.Linear(hidden, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        caught = []
        hook = self.head.register_forward_hook(lambda m, inp, out: caught.append(inp[0]))
        try:
            self.classifier(x)
        finally:
            hook.remove()
        return self.decoder(caught[0].flatten(1))


@torch.no_grad()
def reconstruction_error(ae: Autoencoder, x: torch.Tensor, batch: int = 1024) -> float:
    """Mean squared reconstruction error per input entry, eval mode."""
    was = ae.training
    ae.eval()
    total = sum(F.mse_loss(ae(x[s:s + batch]), x[s:s + batch].flatten(1), reduction="sum").item()
                for s in range(0, len(x), batch))
    ae.train(was)
    return total / x[0].numel() / max(len(x), 1)


def _autoencoder(spec, data, out, force, progress) -> dict:
    device = pick_device(spec.device)
    torch.manual_seed(spec.seed)
    classifier = build_model(spec.model, data.sample_shape, data.num_classes)
    ae = Autoencoder(classifier, data.sample_shape).to(device)
    x_train, x_held = data.x_train.to(device), (data.x_val if len(data.x_val) else data.x_test).to(device)
    before = reconstruction_error(ae, x_held)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(spec.seed)
    t0, bs = time.perf_counter(), spec.train.batch_size
    ae.train()
    for _ in range(spec.train.epochs):
        order = torch.randperm(len(x_train), generator=g).to(device)
        for s in range(0, len(x_train), bs):
            xb = x_train[order[s:s + bs]]
            if len(xb) < 2:
                continue
            loss = F.mse_loss(ae(xb), xb.flatten(1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    final = {"pretrain": "autoencoder", "reconstruction_mse_before": before,
             "reconstruction_mse_after": reconstruction_error(ae, x_held), "epochs": spec.train.epochs,
             "train_seconds": time.perf_counter() - t0, "examples": len(x_train)}
    if out is not None:
        with lock_dir(out):
            out = run.open_run_dir(out, spec, data, force)
            save_atomic({"model": classifier.state_dict()}, out / "checkpoints" / "last.pt")
            write_json(out / "final.json", final)
    return final
