"""Distributed data parallel training: process group, device and rank policy.

Launch with ``torchrun`` (it sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``)::

    torchrun --nproc_per_node=4 -m medsr train --data hr/ --factors 2 2 --out run/

With ``WORLD_SIZE > 1`` the loop joins the process group (``nccl`` when the device is a GPU,
``gloo`` on CPU), wraps the model in ``DistributedDataParallel`` (gradients are averaged, so
every rank holds the same weights), gives every rank its own patch stream (the data
generator is seeded with ``(seed, rank, step)``) and lets only rank 0 write files
(checkpoints, logs, plot, bundle) and validate. Without those variables it is a single
process and nothing here touches ``torch.distributed``.

Example:
    >>> ctx = setup("cpu")            # no torchrun variables: one process
    >>> ctx.rank, ctx.world_size, ctx.is_main, str(ctx.device)
    (0, 1, True, 'cpu')
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from medsr.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class DistContext:
    """Where this process stands: its rank, the number of processes, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: Any
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def mean(self, value: float) -> float:
        """The mean of ``value`` over all ranks (the value itself in one process)."""
        if not self.distributed:
            return float(value)
        import torch
        import torch.distributed as dist

        t = torch.tensor(
            [float(value)], dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu"
        )
        dist.all_reduce(t)
        return float(t.item()) / self.world_size


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(
            None,
            f"environment variable {name}={value!r} is not an integer",
            "launch with torchrun, which sets RANK, WORLD_SIZE and LOCAL_RANK",
        ) from None


def resolve_device(name: str, local_rank: int = 0) -> Any:
    """``auto`` → ``cuda:LOCAL_RANK`` when a GPU is visible, else ``cpu``; or the given device."""
    import torch

    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(None, f"unknown device {name!r}", "use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                None,
                f"device {name!r} asked for but no CUDA GPU is visible",
                "use --device cpu or install a CUDA build of torch",
            )
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    return dev


def setup(device: str = "auto") -> DistContext:
    """Join the process group when ``WORLD_SIZE > 1`` and pick this rank's device."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(None, f"RANK={rank} is not within WORLD_SIZE={world}", "launch with torchrun")
    dev = resolve_device(device, local)
    if world == 1:
        return DistContext(0, 1, 0, dev)
    import torch
    import torch.distributed as dist

    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    created = False
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
        created = True
        log.info("joined process group: rank %d of %d (%s) on %s", rank, world, backend, dev)
    return DistContext(rank, world, local, dev, created)


def wrap(model: Any, ctx: DistContext) -> Any:
    """``model`` wrapped in DistributedDataParallel when distributed, else unchanged."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def teardown(ctx: DistContext) -> None:
    """Leave the process group if :func:`setup` joined it."""
    if ctx.initialized_here:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
