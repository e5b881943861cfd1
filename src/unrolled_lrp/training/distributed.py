"""Data-parallel training across the processes of a ``torchrun`` job (single process without one).

Every rank builds the same global batch indices from the deterministic sampler and takes its share
``batch[rank::world_size]``, so the global batch does not depend on the number of processes. Gradients
are averaged by ``DistributedDataParallel``; rank 0 alone evaluates, logs and writes files.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from unrolled_lrp.models import SegmentationModel

T = TypeVar("T")


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job: ``rank`` of ``world_size`` processes, training on ``device``."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 evaluates, logs, prints and writes checkpoints."""
        return self.rank == 0

    def share(self, indices: list[int]) -> list[int]:
        """This rank's images of a global batch."""
        return indices[self.rank :: self.world_size]

    def check_batch_size(self, batch_size: int) -> None:
        """Every rank needs at least one image per step, or the others would wait for it forever."""
        if batch_size < self.world_size:
            raise ValueError(
                f"batch_size {batch_size} is smaller than the number of processes {self.world_size}; "
                "each process needs at least one image per batch"
            )

    def wrap(self, model: SegmentationModel) -> nn.Module:
        """``model`` behind DDP when there are several processes.

        Mixed-batch models get ``find_unused_parameters``: a rank whose share holds no pixel-labelled
        image skips the segmentation decoder of mt_unet, and without the classification loss (cls_weight 0)
        the classifier's biases get no gradient through LRP-0 heatmaps (Heaviside gates).
        """
        if self.world_size == 1:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=model.uses_image_labels)

    def barrier(self) -> None:
        """Wait until every rank gets here (rank 0 writing files while the others wait)."""
        if self.world_size > 1:
            dist.barrier()

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any of them, so that all ranks stop at the same step."""
        if self.world_size == 1:
            return flag
        value = torch.tensor(float(flag), device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (picklable objects)."""
        if self.world_size == 1:
            return value
        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def setup(device: str) -> Distributed:
    """Join the ``torchrun`` process group when ``WORLD_SIZE > 1`` (once per process), else a single process.

    NCCL on CUDA, each rank on GPU ``LOCAL_RANK``; gloo on CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: this process sees no CUDA device; use cpu or run it on a GPU node")
    if world_size == 1:
        return Distributed(0, 1, target)
    if target.type == "cuda":
        target = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
        atexit.register(dist.destroy_process_group)
    return Distributed(dist.get_rank(), world_size, target)
