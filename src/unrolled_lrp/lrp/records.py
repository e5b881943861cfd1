"""What the encoder leaves the decoder: per-image records (gates, masks, denominators), nested in tuples.

The helpers here walk a record's tensors, whatever the unit or rule that made it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

Record = Any


def map_tensors(record: Record, fn: Callable[[Tensor], Tensor]) -> Record:
    """``record`` with ``fn`` applied to every tensor in it (tuples and named tuples kept, anything else as is)."""
    if isinstance(record, Tensor):
        return fn(record)
    if not isinstance(record, tuple):
        return record
    items = [map_tensors(item, fn) for item in record]
    return type(record)._make(items) if hasattr(record, "_fields") else tuple(items)  # type: ignore[attr-defined]


def select_images(record: Record, index: Tensor) -> Record:
    """A rule's record restricted to the images ``index``: every tensor in it is per image."""
    return map_tensors(record, lambda t: t[index])


def channels_innermost(record: Record) -> Record:
    """A record with every per-image map ``(..., C, H, W)`` laid out with the channels innermost, as the decoder's
    signal is (``channels_last``, see :meth:`~unrolled_lrp.lrp.affine.AffineMap.transpose_messages`): their
    element-wise products then read both in memory order, instead of one of them across strides (twice as slow on
    CPU)."""
    return map_tensors(record, lambda t: t if t.dim() < 4 else t.movedim(-3, -1).contiguous().movedim(-1, -3))
