"""The same run as bench/overhead.py's plain loop, through PyTorch Lightning's Trainer in its
fastest honest setting: no logger, no checkpointing, no progress bar, no model summary, no
sanity validation, no validation loader. Same model, Adam, batch order (a generator seeded by
(seed, epoch), torch's global RNG reseeded the same way each epoch) and final test accuracy.

``lightning_loop(model, data, spec) -> per-epoch mean training losses`` (None when
pytorch-lightning is not installed: ``pip install -e '.[lightning]'``).
"""

from __future__ import annotations

import logging
import warnings

import torch
import torch.nn.functional as F

from babysitter.train.trainer import epoch_seed


class EpochBatches:
    """An iterable of ``(x, y)`` batches; each pass draws the next epoch's order."""

    def __init__(self, x, y, batch_size: int, seed: int):
        self.x, self.y, self.bs, self.seed, self.epoch = x, y, batch_size, seed, 0

    def __len__(self):
        return -(-len(self.x) // self.bs)

    def __iter__(self):
        g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        torch.manual_seed(epoch_seed(self.seed, self.epoch))
        self.epoch += 1
        order = torch.randperm(len(self.x), generator=g)
        for start in range(0, len(self.x), self.bs):
            idx = order[start:start + self.bs]
            yield self.x[idx], self.y[idx]


def lightning_loop(model, data, spec) -> list[float] | None:
    try:
        import pytorch_lightning as pl
    except ImportError:
        return None
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)  # "GPU available: False" etc. would reach stdout

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net, self.losses, self.total, self.seen = model, [], torch.zeros(()), 0

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.total += loss.detach() * len(y)
            self.seen += len(y)
            return loss

        def on_train_epoch_end(self):
            self.losses.append(self.total.item() / self.seen)
            self.total, self.seen = torch.zeros(()), 0

        def configure_optimizers(self):
            return torch.optim.Adam(self.net.parameters(), lr=spec.optim.lr)

    module = Module()
    trainer = pl.Trainer(max_epochs=spec.train.epochs, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, deterministic=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "does not have many workers", "no validation loop", ...
        trainer.fit(module, train_dataloaders=EpochBatches(data.x_train, data.y_train, spec.train.batch_size, spec.seed))
    with torch.no_grad():
        model.eval()
        (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    return module.losses
