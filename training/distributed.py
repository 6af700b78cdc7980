"""Data-parallel training under torchrun: process group, batch sharding, metric reduction.

`torchrun --nproc_per_node=N -m training.train ...` sets RANK, WORLD_SIZE and LOCAL_RANK; without
them a run is one process and every helper here is a no-op, so the single-process path is the same
code with a world of one.
"""

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def start(device: torch.device) -> World:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on GPU)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world


def stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shard(batch: Sequence[T], world: World) -> list[T]:
    """This rank's part of a global batch: every size-th item from its rank, padded by wrapping
    around (as DistributedSampler pads) so every rank gets the same number of items and none is empty.
    Sharding each global batch keeps the step count and the effective batch size of a one-process run."""
    if not world.distributed:
        return list(batch)
    count = -(-len(batch) // world.size)  # ceil
    return [batch[(world.rank + k * world.size) % len(batch)] for k in range(count)]


def sum_all(values: Sequence[float], world: World) -> list[float]:
    """Element-wise sum of `values` over all ranks (float64, so counts stay exact)."""
    if not world.distributed:
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def any_rank(flag: bool, world: World) -> bool:
    """True on every rank when `flag` is true on any rank: all ranks must stop at the same step."""
    return bool(sum_all([float(flag)], world)[0]) if world.distributed else flag


def gather(value: Any, world: World) -> list[Any]:
    """Every rank's `value` (picklable), in rank order, on every rank."""
    if not world.distributed:
        return [value]
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def state_digest(module: torch.nn.Module) -> str:
    """sha256 of every parameter and buffer, to prove that replicas agree bit for bit."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
