r"""Data-parallel training with torch.distributed: one process per device, launched by torchrun.

Every rank walks the same sequence of global batches (same seed, same shuffling); rank r
evaluates the loss on its contiguous shard of each global batch and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients during the
backward pass. Each rank scales its summed shard loss by ``world_size / global_batch``, so
the averaged gradient is the gradient of the mean loss over the *global* batch, whatever the
shard sizes: the same update as one process on the same batch, up to the order of float
additions. With the tracing-free VAE objective every rank draws the noise of the whole batch
and keeps its rows, so the random draws are one process's draws too.

``init_from_env`` starts the process group from torchrun's environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``): NCCL for CUDA devices, gloo
on the CPU. Rank 0 alone writes checkpoints, metrics and progress.

References:
    PyTorch Distributed: Experiences on Accelerating Data Parallel Training, S. Li et al.,
    2020, sec. 3. https://arxiv.org/abs/2006.15704
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the process group."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def shard(n: int, rank: int, world_size: int) -> slice:
    """Contiguous, balanced rows of ``n`` owned by ``rank``: sizes differ by at most one."""
    if not 0 <= rank < world_size:
        raise ValueError(f"expected 0 <= rank < world_size, got rank {rank}, world {world_size}")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def env_world_size() -> int:
    """The world size torchrun announced (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device: torch.device) -> DistContext | None:
    """The process group's context: an initialized group, or one started from torchrun's
    environment variables; ``None`` for a single process.

    Args:
        device: the device fit resolved; a CUDA device becomes ``cuda:LOCAL_RANK``.
    """
    if not dist.is_available():
        return None
    if not dist.is_initialized():
        if env_world_size() <= 1:
            return None
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    world = dist.get_world_size()
    if world <= 1:
        return None
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank() % torch.cuda.device_count()))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    return DistContext(dist.get_rank(), world, device)


class DataParallelObjective:
    r"""Wraps a summed-loss module ``objective(x, rows) -> loss`` in DDP.

    Calling it with the global batch ``x`` ``(B, ...)`` returns the surrogate
    ``loss_r * world_size / B`` whose DDP-averaged gradient is that of the global mean loss,
    and the global mean loss itself (detached, summed across ranks).
    """

    def __init__(self, objective: nn.Module, ctx: DistContext):
        self.ctx = ctx
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        # Parameters are broadcast from rank 0 here, so every rank starts from its weights.
        self.ddp = DistributedDataParallel(objective, device_ids=ids)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        local = self.ddp(x, shard(b, self.ctx.rank, self.ctx.world_size))
        total = local.detach().clone()
        dist.all_reduce(total)
        return local * (self.ctx.world_size / b), total / b


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class PeerLostError(RuntimeError):
    """A collective operation of a data-parallel run failed: another process died, hung
    past the process group's timeout, or cannot be reached."""


# What gloo and NCCL say when a peer is gone (gloo raises a plain RuntimeError).
_PEER_LOST = (
    "Connection closed by peer",
    "Connection reset by peer",
    "Broken pipe",
    "Timed out waiting",
    "timed out",
    "NCCL communicator was aborted",
)


def is_peer_failure(error: BaseException) -> bool:
    """Whether ``error``, raised during data-parallel training, is a failed collective
    (``torch.distributed.DistError``, or gloo's and NCCL's messages for a lost peer) rather
    than an error of this process's own computation."""
    if isinstance(error, dist.DistError):
        return True
    return isinstance(error, RuntimeError) and any(s in str(error) for s in _PEER_LOST)


def shutdown(*steppers: Any) -> None:
    """Ends the process group in an orderly way: releases each stepper's DDP wrapper
    (``stepper.distribute(None)``), waits until every rank has arrived (no collective still in
    flight to a peer), collects objects kept alive only by reference cycles, then destroys the
    group. A no-op outside a process group.

    DDP's reducer holds the group: released first, the group ends here rather than during
    interpreter exit, when its peers may already be gone.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    for stepper in steppers:
        release = getattr(stepper, "distribute", None)
        if callable(release):
            release(None)
    dist.barrier()
    gc.collect()
    dist.destroy_process_group()


def sharded_log_likelihood(
    log_likelihood: Callable[..., torch.Tensor], module: Any, x: torch.Tensor, **kwargs: Any
) -> torch.Tensor:
    """Runs ``log_likelihood(module, x_shard, **kwargs)`` on each rank's shard of the
    examples and gathers the ``(N,)`` result on every rank (one process: a plain call).

    Each rank draws its own importance samples; the estimate per example is as good as one
    process's, and the work is divided by the world size.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return log_likelihood(module, x, **kwargs)
    world, rank = dist.get_world_size(), dist.get_rank()
    n = x.shape[0]
    mine = log_likelihood(module, x[shard(n, rank, world)], **kwargs)
    size = math.ceil(n / world)  # all_gather needs equal sizes: pad, then trim
    padded = torch.zeros(size, dtype=mine.dtype, device=mine.device)
    padded[: mine.shape[0]] = mine
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat(
        [p[: shard(n, r, world).stop - shard(n, r, world).start] for r, p in enumerate(parts)]
    )
