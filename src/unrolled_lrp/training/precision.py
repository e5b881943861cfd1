"""Numeric precision and memory layout of training: bf16 autocast and channels-last on GPU."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal, get_args

import torch

#: "fp32": full precision; "bf16": bfloat16 autocast (same exponent range as fp32, so no loss scaling).
Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def check_precision(precision: str) -> None:
    """Raise a ValueError naming the choices; fp16 is left out because it would need a GradScaler."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """Autocast for forward pass and loss (evaluation included); a no-op context for fp32.

    Convolutions and matmuls run in bf16, losses and reductions stay in fp32 (autocast's op lists),
    and the weights and the optimizer state stay in fp32.
    """
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def memory_format(channels_last: bool) -> torch.memory_format:
    """NHWC lets cuDNN use tensor-core convolution kernels without transposes; NCHW otherwise."""
    return torch.channels_last if channels_last else torch.contiguous_format
