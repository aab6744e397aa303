"""The N-process primitives the trainer uses: which part of each global batch is this rank's,
the SUM all-reduce that makes N ranks step on the one-process gradient, and batch norm over the global
batch (the launcher that starts the ranks is :mod:`babysitter.train.launch`).
(``torch.distributed.launcher.api.elastic_launch``, the engine behind ``torchrun``).

The same run, split. ``train.batch_size`` stays the *global* batch B. Every rank draws the epoch's
order from the same seeded generator the one-process Trainer uses, and rank r of N takes the r-th
contiguous part of each global batch (sizes differ by at most one, as ``torch.tensor_split``). Rank
r's objective is its part of the global mean,

    J_r = (n_r / b) * mean_{i in part r} l_i = (1 / b) sum_{i in part r} l_i,     b = sum_r n_r,

and DDP's all-reduce is made a SUM (:func:`allreduce_sum_hook`, not DDP's default mean), so every
rank steps on  sum_r grad J_r = grad (1/b) sum_i l_i  -- the one-process gradient of that batch,
also for a last batch b < B. The penalty (L1/L2) is added on rank 0 only, so it counts once.
Batch norm: ``train.sync_bn`` (default true when N > 1) replaces every BatchNorm with
:class:`SyncBatchNorm`, whose statistics are those of the global batch; torch's own SyncBatchNorm
refuses CPU tensors, so on CPU (gloo) the mean and variance are all-reduced here with the
differentiable all-reduce of torch's functional collectives.
Augmentation is applied to the whole global batch on every rank (same generator, same draws as one
process), then cut. Dropout and stochastic-depth masks differ: each rank draws its own from torch's
RNG seeded with (seed, epoch, rank) -- the same distribution, not the one-process masks.

Rank 0 alone writes the run dir; metrics are all-reduced; checkpoints hold the unwrapped module.
An instrument's stop request (rank 0) takes effect at the end of the epoch, agreed by all ranks.
A rank that dies makes the agent stop the group (``max_restarts=0``): exit 1, no hang.
"""

from __future__ import annotations


import torch
import torch.distributed as dist
from torch import nn


DROPOUT_SEED_STRIDE = 1_000_000_007  # rank r seeds torch's RNG with epoch_seed + r * stride


# ---------------------------------------------------------------- the group, as the Trainer sees it
class Group:
    """This process's place in the group: ``rank`` of ``world``, its ``device`` (None: the spec's).

    The default, ``Group()``, is one process: :meth:`wrap` returns the model itself, :meth:`part`
    the whole batch and :meth:`sum` its input, so the Trainer runs one code path either way."""

    def __init__(self, rank: int = 0, world: int = 1, device: torch.device | None = None):
        self.rank, self.world, self.device = rank, world, device

    @property
    def writes(self) -> bool:
        """Only rank 0 writes the run dir, shows progress and carries the instruments."""
        return self.rank == 0

    def part(self, n: int) -> slice:
        """This rank's contiguous part of ``n`` items: the first ``n % world`` ranks get one more."""
        size, extra = divmod(n, self.world)
        start = self.rank * size + min(self.rank, extra)
        return slice(start, start + size + (self.rank < extra))

    def mine(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's :meth:`part` of ``t: (n, ...)``; ``t`` itself for one process (no op per step)."""
        return t if self.world == 1 else t[self.part(len(t))]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over the ranks (float64; identity for one process)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return t.tolist()

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel with gradients all-reduced by SUM."""
        if self.world == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        ddp.register_comm_hook(None, allreduce_sum_hook)
        return ddp


def allreduce_sum_hook(state, bucket):
    """DDP communication hook: the bucket's gradients summed over ranks (DDP's default divides by
    the world size; our per-rank objectives already carry the 1/b of the global batch)."""
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


# ---------------------------------------------------------------- synchronised batch norm
class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the global batch, on the CPU (torch's SyncBatchNorm, used on CUDA, refuses
    CPU tensors, and DDP refuses it on a CPU module). In training, over the M = sum_r m_r values per
    channel of all ranks (x: (N, C) or (N, C, L) or (N, C, H, W)):

        mu = (1/M) sum x        var = (1/M) sum (x - mu)^2        y = gamma (x - mu) / sqrt(var + eps) + beta

    with both sums all-reduced (differentiably, so the backward pass is the global one); the running
    variance takes the unbiased var * M / (M - 1), as torch's batch norm. In eval mode (or one
    process): torch's batch norm on the running statistics."""

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        import torch.distributed._functional_collectives as funcol  # differentiable: backward all-reduces

        def all_reduce(t):
            return funcol.all_reduce(t, "sum", dist.group.WORLD)

        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local = x.numel() // x.size(1)
        stats = all_reduce(torch.cat([x.sum(dims), x.new_tensor([local])]))
        count = stats[-1].detach()
        mu = stats[:-1] / count
        var = all_reduce(((x - mu.view(shape)) ** 2).sum(dims)) / count
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            with torch.no_grad():
                self.running_mean.mul_(1 - m).add_(mu.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * count / (count - 1), alpha=m)
        y = (x - mu.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm of ``module`` replaced (in place, parameters and buffers kept) by torch's
    SyncBatchNorm on CUDA, by :class:`SyncBatchNorm` on the CPU; the state_dict keys stay the same."""
    if any(p.is_cuda for p in module.parameters()):
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _sync_batchnorm_cpu(module)


def _sync_batchnorm_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, SyncBatchNorm):
        new = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new.to(next(iter(module.state_dict().values())).device)
    for name, child in module.named_children():
        module.add_module(name, _sync_batchnorm_cpu(child))
    return module
