"""The training loop. One step reads top to bottom:

    forward -> loss + penalty -> backward -> clip -> step -> constraints -> schedule

Data stays in memory as tensors on the device; each epoch draws its order (and augmentation)
from a generator seeded by (seed, epoch), and reseeds torch's global RNG (dropout masks) the
same way, so a run resumed from an epoch checkpoint continues exactly as if never stopped.

With ``group`` (a :class:`babysitter.train.group.Group` of N processes) each rank computes its
part of every global batch and DDP sums the gradients, so N processes step as one would; see
train/group.py for what is exact and what differs (dropout masks).

The step is kept free of per-step Python work a plain PyTorch loop does not do (bench/overhead.py
measures the difference): no ``.item()`` sync, a hook is called only when an instrument listens,
a constant schedule is never stepped, and the epoch's loss and accuracy are added up in batches
(:class:`EpochMeter`) instead of with a few tiny tensor ops per step.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.data.augment import TestTimeAugment, make_augment
from babysitter.errors import BadInput, CannotWrite, Interrupted, Terminated, TrainingFailed
from babysitter.optim.optimizers import NEEDS_CLOSURE, make_optimizer, norm_groups
from babysitter.optim.penalties import Penalty, apply_max_norm, penalized_weights
from babysitter.optim.schedules import make_schedule
from babysitter.train.checkpoint import load_checkpoint, save_atomic
from babysitter.train.group import DROPOUT_SEED_STRIDE, Group
from babysitter.train.ensemble import EMA, snapshot_schedule
from babysitter.train.events import HOOKS, fire, listeners
from babysitter.train.history import History, write_json
from babysitter.train.precision import Precision, prepare_model
from babysitter.train.progress import Progress
from babysitter.train.threads import ThreadTuner


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput("device: cuda requested but torch sees no CUDA device; use device: auto or cpu")
    return torch.device(name)


def cpu_threads() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota
    (``cpu.max``: a container limited to 2 CPUs on a 64-core host gets 2, not 64)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


def fixed_threads(share: int = 1) -> int:
    """The default ``train.threads`` (null), resolved once per run: torch's intra-op count capped at
    :func:`cpu_threads` (torch starts one per core it sees; more threads than the CPUs granted
    oversubscribe them and make each small step wait on the slowest). ``share``: processes of one
    group on this machine, each getting its part of the CPUs (unless OMP_NUM_THREADS set the count)."""
    if share > 1 and "OMP_NUM_THREADS" not in os.environ:
        return max(1, cpu_threads() // share)
    return max(1, min(torch.get_num_threads(), cpu_threads()))


def fit_threads(device: torch.device, threads: int | str | None = None) -> None:
    """Set torch's intra-op threads for CPU training from ``train.threads``: an int is used as given
    (bitwise reproducible: the same count sums in the same order); None: :func:`fixed_threads`;
    ``auto`` starts from that count and :class:`~babysitter.train.threads.ThreadTuner` times the
    candidates during training."""
    if device.type != "cpu":
        return
    if threads is None or threads == "auto":
        torch.set_num_threads(fixed_threads())
    else:
        torch.set_num_threads(int(threads))


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


class EpochMeter:
    """The epoch's running training loss and accuracy, without a device op or sync per step:

        train_loss = sum_b n_b L_b / N        train_acc = #{i : argmax_k s_ik = y_i} / N

    over the batches b so far (``n_b`` examples, mean loss ``L_b``; ``s: (n_b, C)`` the scores).
    ``add`` only keeps references (loss: 0-dim, logits: (n_b, C), y: (n_b,)). The correct count
    is taken on the device for all kept batches at once, when they hold ``max_elements`` scores
    or when read. The loss sum is formed when read, in float32 and in step order, so it equals
    bit for bit ``loss_sum += L_b * n_b`` done on the device every step (reading syncs once).
    """

    def __init__(self, device: torch.device, max_elements: int = 1 << 20):
        self.max_elements, self.seen, self.kept = max_elements, 0, 0
        self.losses, self.sizes, self.logits, self.targets = [], [], [], []
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.loss_sum = np.float32(0.0)

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        n = len(y)
        self.seen += n
        self.losses.append(loss.detach())
        self.sizes.append(n)
        self.logits.append(logits.detach())
        self.targets.append(y)
        self.kept += logits.numel()
        if self.kept >= self.max_elements:
            self._count()

    def _count(self) -> None:
        if self.logits:
            hits = torch.cat(self.logits).argmax(1) == torch.cat(self.targets)
            self.correct += hits.sum()
            self.logits, self.targets, self.kept = [], [], 0

    def means(self, group: Group | None = None) -> tuple[float, float]:
        """(train_loss, train_acc) of the batches so far (nan, nan before the first); with a
        ``group``, over the batches of all its ranks (their sums all-reduced)."""
        self._count()
        if self.losses:
            weighted = torch.stack(self.losses) * torch.tensor(self.sizes, device=self.correct.device)
            total = self.loss_sum
            with np.errstate(all="ignore"):  # an overflowing loss must give inf, as on the device
                for v in weighted.float().cpu().numpy():
                    total = np.float32(total + v)
            self.loss_sum, self.losses, self.sizes = total, [], []
        loss_sum, correct, seen = float(self.loss_sum), self.correct.item(), self.seen
        if group is not None and group.world > 1:
            loss_sum, correct, seen = group.sum([loss_sum, correct, seen])
        if not seen:
            return math.nan, math.nan
        return loss_sum / seen, correct / seen


class Trainer:
    """Train ``model`` on ``data`` (a :class:`babysitter.data.Dataset`) as ``spec`` says.

    ``out_dir``: where metrics.jsonl, checkpoints/ and final.json go (None: keep in memory).
    ``callbacks``: instruments with the hooks of :mod:`babysitter.train.events`.
    ``param_groups``: the optimizer's parameter groups (e.g. a smaller lr for pretrained layers);
    None: one group of every parameter that requires grad.
    ``group``: this process's rank in a DDP group (default: one process); only rank 0 gets an
    ``out_dir``, ``callbacks`` and ``progress``.
    """

    def __init__(self, model: nn.Module, data, spec, out_dir: str | Path | None = None,
                 callbacks=(), progress: bool = True, param_groups=None, group: Group | None = None):
        self.spec, self.data = spec, data
        self.group = group or Group()
        self.device = self.group.device or pick_device(spec.device)
        t = spec.train
        self.model = prepare_model(model.to(self.device), t.channels_last, t.compile)
        self.net = self.group.wrap(self.model)  # what the step runs: the model, or DDP around it
        self.share = 1.0  # this rank's fraction of the current global batch
        self.amp = Precision(t.precision, self.device, self.model)  # autocast, loss scaling (train/precision.py)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.resume_dir = self.out_dir  # what `babysit train --resume` takes (an ensemble member's: the run dir)
        self.steps_per_epoch = max(1, len(data.x_train) // t.batch_size + (len(data.x_train) % t.batch_size > 1))
        groups = param_groups if param_groups is not None else norm_groups(model, spec.optim)
        self.optimizer = make_optimizer(groups, spec.optim)
        units = t.epochs * (self.steps_per_epoch if spec.schedule.unit == "step" else 1)
        schedule = snapshot_schedule(spec, self.steps_per_epoch)
        self.schedule = make_schedule(self.optimizer, schedule, units)
        # a constant lr never changes, so its scheduler is never stepped (its state stays at 0)
        self.schedule_unit = None if schedule.name == "constant" else schedule.unit
        self.penalty = Penalty(spec.regularize.l1, spec.regularize.l2)
        self.weights = penalized_weights(model)
        self.max_norm = spec.regularize.max_norm
        self.clips = t.clip_value is not None or t.clip_norm is not None
        self.augment = make_augment(spec.data.augment)
        self.needs_closure = spec.optim.name in NEEDS_CLOSURE
        # auto threads on the CPU: the step time at each count decides (train/threads.py)
        self.threads = ThreadTuner() if t.threads == "auto" and self.device.type == "cpu" else None
        self.eval_model: nn.Module | None = None  # what evaluate() uses; set by EMA (train.ema)
        built_in = [*([EMA(t.ema)] if t.ema else []), *([self.threads] if self.threads else [])]
        self.callbacks = [*callbacks, *built_in]
        self.tta = TestTimeAugment(t.tta) if t.tta else None
        self.hooks = {h: listeners(self.callbacks, h) for h in HOOKS}
        # a fixed thread count on the CPU: say once if other work slows the steps (auto would adapt)
        self.progress = Progress(enabled=progress and self.group.writes,
                                 slow_hint=self.device.type == "cpu" and t.threads != "auto")
        self.epoch, self.step, self.best_val_acc, self.best_epoch = 0, 0, -1.0, None
        self.history = History()
        self.stop_reason: str | None = None   # the run failed (e.g. non-finite loss): exit 1
        self.stop_requested = False            # end early but cleanly (e.g. a time budget)

    # ---------------------------------------------------------------- the step
    def loss_fn(self, logits, y):
        return F.cross_entropy(logits, y, label_smoothing=self.spec.train.label_smoothing)

    def train_step(self, x: torch.Tensor, y: torch.Tensor):
        """One optimizer step on the batch ``x: (B, ...)``, ``y: (B,)``; returns (loss, logits)."""
        if self.needs_closure:
            return self._closure_step(x, y)
        hooks = self.hooks
        with self.amp.autocast():
            logits = self.net(x)                                        # forward
            loss = self.loss_fn(logits, y)
        self.logits, self.loss = logits, loss
        if hooks["after_forward"]:
            fire(hooks["after_forward"], "after_forward", self)
        # N ranks: each its part (n_r / b) of the global batch's mean; DDP sums them; the penalty once
        total = loss if self.share == 1.0 else loss * self.share
        if self.penalty and self.group.rank == 0:                       # loss + penalty
            total = total + self.penalty(self.weights)
        self.optimizer.zero_grad(set_to_none=True)
        self.amp.backward(total, self.optimizer)                        # backward
        if hooks["after_backward"]:
            fire(hooks["after_backward"], "after_backward", self)
        if self.clips:                                                  # clip
            self._clip()
        self.amp.step(self.optimizer)                                   # step
        if self.max_norm is not None:                                   # constraints
            apply_max_norm(self.weights, self.max_norm)
        if self.schedule_unit == "step":                                # schedule
            self.schedule.step()
        return loss, logits

    def _closure_step(self, x, y):
        """The same step for optimizers that re-evaluate the loss (L-BFGS, Newton): a closure.
        ``closure(backward=False)`` returns the loss with its graph (Newton differentiates it twice)."""
        def closure(backward: bool = True):
            self.optimizer.zero_grad(set_to_none=True)
            total = self.loss_fn(self.model(x), y)
            total = total + self.penalty(self.weights) if self.penalty else total
            if backward:
                total.backward()
                fire(self.hooks["after_backward"], "after_backward", self)
                self._clip()
            return total

        self.optimizer.step(closure)
        if self.max_norm is not None:
            apply_max_norm(self.weights, self.max_norm)
        if self.schedule_unit == "step":
            self.schedule.step()
        with torch.no_grad():
            logits = self.model(x)
            self.logits, self.loss = logits, self.loss_fn(logits, y)
        return self.loss, logits

    def _clip(self) -> None:
        """Gradient clipping by value (each entry to [-c, c]) and/or by global norm (direction kept)."""
        t = self.spec.train
        if t.clip_value is not None:
            nn.utils.clip_grad_value_(self.model.parameters(), t.clip_value)
        if t.clip_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), t.clip_norm)

    # ---------------------------------------------------------------- epochs
    def run_epoch(self, x_train: torch.Tensor, y_train: torch.Tensor) -> dict:
        """One pass over the training set in a seeded random order; returns the epoch's row.
        With N ranks, each takes its part of every batch of that one order."""
        bs, n, group = self.spec.train.batch_size, len(x_train), self.group
        g = torch.Generator().manual_seed(epoch_seed(self.spec.seed, self.epoch))
        torch.manual_seed(epoch_seed(self.spec.seed, self.epoch) + DROPOUT_SEED_STRIDE * group.rank)
        order = torch.randperm(n, generator=g).to(self.device)
        end = n - 1 if bs > 1 and n > 1 and n % bs == 1 else n  # a 1-example tail: batch norm cannot train on it
        meter = EpochMeter(self.device)
        after_step, augment = self.hooks["after_step"], self.augment
        advance = self.progress.advance if self.progress.bar is not None else None
        self.model.train()
        self.progress.start_epoch(self.epoch, self.spec.train.epochs, self.steps_per_epoch)
        for start in range(0, end, bs):
            idx = order[start:start + bs]
            mine = group.mine(idx)
            if augment is None:
                x = x_train[mine]
            else:  # the whole batch, so every rank draws from g what one process draws; then its part
                x = group.mine(augment(x_train[idx], g, idx, self.epoch))
            y = y_train[mine]
            self.share = len(y) / len(idx)
            self.x, self.y = x, y
            loss, logits = self.train_step(x, y)
            self.step += 1
            if after_step:
                fire(after_step, "after_step", self)
            meter.add(loss, logits, y)
            if advance is not None:
                advance(self, meter)
            # set by an instrument or a budget; N ranks stop together, at the epoch's end (below)
            if (self.stop_reason is not None or self.stop_requested) and group.world == 1:
                break
        if self.schedule_unit == "epoch":
            self.schedule.step()
        if group.world > 1:
            self._agree_on_stop()
        train_loss, train_acc = meter.means(group)
        return {"train_loss": train_loss, "train_acc": train_acc}

    def _agree_on_stop(self) -> None:
        """Every rank stops when any rank's instrument asked (only rank 0 carries them)."""
        failed, requested = self.group.sum([self.stop_reason is not None, self.stop_requested])
        if failed and self.stop_reason is None:
            self.stop_reason = "stopped by rank 0's doctor (see its final.json)"
        self.stop_requested = self.stop_requested or bool(requested)

    @torch.inference_mode()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, model: nn.Module | None = None) -> tuple[float, float]:
        """Mean loss and accuracy of ``model`` (default: the EMA average if any, else the trained
        one) in eval mode, large batches. N ranks: each evaluates its contiguous part of
        ``x: (n, ...)``; the sums are all-reduced."""
        model = model or self.eval_model or self.model
        n, part = len(x), self.group.part(len(x))
        x, y = x[part], y[part]
        was_training = model.training
        model.eval()
        loss_sum, correct = 0.0, 0
        bs = self.spec.train.eval_batch_size
        for start in range(0, len(x), bs):
            xb, yb = x[start:start + bs].to(self.device), y[start:start + bs].to(self.device)
            with self.amp.autocast():
                logits = (self.tta(model, xb) if self.tta else model(xb)).float()
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
        model.train(was_training)
        if self.group.world > 1:
            loss_sum, correct = self.group.sum([loss_sum, correct])
        return loss_sum / max(n, 1), correct / max(n, 1)

    def fit(self, resume: bool = False) -> dict:
        """Train for ``train.epochs`` epochs (continuing from the last checkpoint if ``resume``)."""
        dev = self.device
        if resume:
            last = self.out_dir / "checkpoints" / "last.pt"
            try:
                self.load_state(load_checkpoint(last, map_location=dev))
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
                if isinstance(e, BadInput):
                    raise
                raise BadInput(f"checkpoint {last} does not fit this run ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}); "
                               f"it is from another spec or damaged") from None
        try:
            return self._fit_epochs()
        except CannotWrite as e:  # a full disk / lost permission mid-run: the atomic writes kept the old files
            kept = self.out_dir is not None and (self.out_dir / "checkpoints" / "last.pt").is_file()
            raise CannotWrite(f"{e}; " + ("the last good checkpoint is kept (continue with babysit train --resume "
                                          f"{self.resume_dir})" if kept else "no checkpoint was written yet")) from None
        except (KeyboardInterrupt, Terminated) as e:  # Ctrl-C / SIGTERM: the atomic writes kept the old files
            how, status = ("terminated", 143) if isinstance(e, Terminated) else ("interrupted", 130)
            if self.out_dir is None:
                raise Interrupted(how, status) from None
            if (self.out_dir / "checkpoints" / "last.pt").is_file():
                raise Interrupted(f"{how}; continue with babysit train --resume {self.resume_dir} "
                                  f"(the last good checkpoint is kept)", status) from None
            raise Interrupted(f"{how} before the first checkpoint: nothing to resume in {self.resume_dir}", status) from None

    def _fit_epochs(self) -> dict:
        d, dev = self.data, self.device
        self.history = History(self.out_dir / "metrics.jsonl" if self.out_dir else None, self.history.rows)
        x_train, y_train = d.x_train.to(dev), d.y_train.to(dev)
        fit_threads(dev, self.spec.train.threads)
        fire(self.hooks["before_fit"], "before_fit", self)
        with self.progress:
            while self.epoch < self.spec.train.epochs and self.stop_reason is None and not self.stop_requested:
                fire(self.hooks["before_epoch"], "before_epoch", self)
                lr = self.optimizer.param_groups[0]["lr"]
                t0 = time.perf_counter()
                row = self.run_epoch(x_train, y_train)
                if self.stop_reason is None and not math.isfinite(row["train_loss"]):
                    self.stop_reason = f"training loss became {row['train_loss']} in epoch {self.epoch + 1}"
                if self.stop_reason is not None:  # keep the last good checkpoint: save nothing of this epoch
                    break
                val_loss, val_acc = self.evaluate(d.x_val, d.y_val) if len(d.x_val) else (None, None)
                seconds = time.perf_counter() - t0
                self.epoch += 1
                row = {"epoch": self.epoch, "step": self.step, **row, "val_loss": val_loss,
                       "val_acc": val_acc, "lr": lr, "seconds": seconds}
                self.history.append(row)
                self.progress.end_epoch(row)
                if val_acc is not None and val_acc > self.best_val_acc:
                    self.best_val_acc, self.best_epoch = val_acc, self.epoch
                    self._save("best.pt", lambda: {"model": (self.eval_model or self.model).state_dict(),
                                                   "epoch": self.epoch, "val_acc": val_acc})
                self._save("last.pt", self.state_dict)
                fire(self.hooks["after_epoch"], "after_epoch", self)
        fire(self.hooks["after_fit"], "after_fit", self)
        return self.finish()

    def finish(self) -> dict:
        """Evaluate on the test split and write final.json."""
        test_loss, test_acc = self.evaluate(self.data.x_test, self.data.y_test)
        rows = self.history.rows
        final = {"test_loss": test_loss, "test_acc": test_acc,
                 "best_val_acc": self.best_val_acc if self.best_epoch else None, "best_epoch": self.best_epoch,
                 "epochs": self.epoch, "steps": self.step,
                 "train_seconds": sum(r["seconds"] for r in rows),
                 "params": sum(p.numel() for p in self.model.parameters()),
                 "device": str(self.device), "failed": self.stop_reason,
                 "threads": torch.get_num_threads() if self.device.type == "cpu" else None,
                 "precision": self.amp.name}
        if self.out_dir is not None:
            write_json(self.out_dir / "final.json", final)
        if self.stop_reason is not None:
            raise TrainingFailed(self.stop_reason)
        return final

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "epoch": self.epoch, "step": self.step,
                "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
                "history": self.history.rows, "spec": self.spec.to_dict(),
                "callbacks": {type(cb).__name__: cb.state_dict() for cb in self.callbacks if hasattr(cb, "state_dict")}}

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.best_val_acc, self.best_epoch = state["best_val_acc"], state["best_epoch"]
        self.history = History(rows=state["history"])
        for cb in self.callbacks:
            if type(cb).__name__ in state.get("callbacks", {}):
                cb.load_state_dict(state["callbacks"][type(cb).__name__])

    def _save(self, name: str, make) -> None:
        """Write ``make()`` as checkpoints/NAME; without an out_dir nothing is built (the
        instruments' records grow with the run: copying them every epoch for nothing costs)."""
        if self.out_dir is not None:
            save_atomic(make(), self.out_dir / "checkpoints" / name)
