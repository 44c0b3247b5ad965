"""Data-parallel training across processes with ``torch.distributed``, as launched by ``torchrun``.

``torchrun --nproc_per_node N [--nnodes M ...] -m epilepsy_suite <model> train ...`` starts one
process per GPU (or CPU share) and describes the group in the environment (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``...). :func:`join_process_group` reads it: NCCL on GPUs,
gloo on CPUs. A plain ``python -m epilepsy_suite`` run is a group of one and nothing changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in the training group: ``rank`` of ``world_size`` processes, and the
    ``device`` it trains on (its own GPU under torchrun)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    created_here: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints and logs and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Leave the group if this process joined it (so a later run in the process starts clean)."""
        if self.created_here and dist.is_initialized():
            dist.destroy_process_group()


def join_process_group(device: torch.device) -> ProcessGroup:
    """The group described by torchrun's environment, joined (a group of one without torchrun).

    On CUDA each process takes the GPU of its ``LOCAL_RANK``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return ProcessGroup(device=device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), device, created)
