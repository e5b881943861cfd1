"""Semi-supervised batches: a fixed mix of pixel-labelled and image-level images per batch.

The training dataset lists the pixel-labelled items first (indices ``0..P-1``), then the
image-level items (``P..P+I-1``). Each pool is an endless stream of passes; every pass is a
fresh permutation derived from ``(seed, pool, pass number)``. Batch ``b`` takes the next
``pixel_per_batch`` items of the pixel stream and the next ``batch_size - pixel_per_batch`` of
the image-level stream, so the whole sequence is a pure function of the seed and the batch
counter: saving and restoring the counter resumes training exactly. When the image-level pool is empty (a
fully pixel-labelled dataset whose whole pool is the regime), the pixel-labelled images take its share:
they carry image labels too.

An *epoch* is ``epoch_length`` iterations; by default the number of batches needed to see every
image of the slower pool once, ``max(ceil(P / pixel_per_batch), ceil(I / image_per_batch))``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from torch.utils.data import Sampler


@lru_cache(maxsize=8)
def _permutation(seed: int, pool: str, size: int, epoch: int) -> tuple[int, ...]:
    order = list(range(size))
    random.Random(f"{seed}:{pool}:{epoch}").shuffle(order)  # string seeds hash stably (SHA-512)
    return tuple(order)


class MixedBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices mixing the two pools; ``state_dict()`` resumes the exact sequence."""

    def __init__(
        self,
        num_pixel: int,
        num_image_level: int,
        *,
        batch_size: int = 10,
        pixel_fraction: float = 0.5,
        seed: int = 0,
        epoch_length: int | None = None,
    ) -> None:
        if batch_size < 1 or not 0 <= pixel_fraction <= 1:
            raise ValueError(f"need batch_size >= 1 and 0 <= pixel_fraction <= 1, got {batch_size}, {pixel_fraction}")
        self.num_pixel, self.num_image_level, self.seed = num_pixel, num_image_level, seed
        self.pixel_per_batch = round(batch_size * pixel_fraction) if num_image_level else batch_size
        self.image_per_batch = batch_size - self.pixel_per_batch
        for pool, size, per_batch in (
            ("pixel-labelled", num_pixel, self.pixel_per_batch),
            ("image-level", num_image_level, self.image_per_batch),
        ):
            if per_batch and not size:
                raise ValueError(
                    f"batches need {per_batch} {pool} images but that pool is empty; adjust pixel_fraction"
                )
        passes = [
            math.ceil(size / per_batch)
            for size, per_batch in ((num_pixel, self.pixel_per_batch), (num_image_level, self.image_per_batch))
            if per_batch
        ]
        self.epoch_length = epoch_length or max(passes)
        self.step = 0

    def _take(self, pool: str, size: int, offset: int, per_batch: int, step: int) -> list[int]:
        positions = range(step * per_batch, (step + 1) * per_batch)
        return [offset + _permutation(self.seed, pool, size, p // size)[p % size] for p in positions]

    def batch(self, step: int) -> list[int]:
        """Dataset indices of batch number ``step`` (pixel-labelled first)."""
        return self._take("pixel", self.num_pixel, 0, self.pixel_per_batch, step) + self._take(
            "image", self.num_image_level, self.num_pixel, self.image_per_batch, step
        )

    def __len__(self) -> int:
        return self.epoch_length

    def __iter__(self) -> Iterator[list[int]]:
        """The batches up to the end of the current epoch (the whole epoch unless resumed mid-way)."""
        end = (self.step // self.epoch_length + 1) * self.epoch_length
        while self.step < end:
            self.step += 1
            yield self.batch(self.step - 1)

    def _config(self) -> dict[str, int]:
        return {
            "seed": self.seed,
            "num_pixel": self.num_pixel,
            "num_image_level": self.num_image_level,
            "pixel_per_batch": self.pixel_per_batch,
            "image_per_batch": self.image_per_batch,
        }

    def state_dict(self) -> dict[str, Any]:
        """Batches handed out so far plus the configuration they depend on.

        A ``DataLoader`` with workers prefetches batches, so the counter can be ahead of the batches
        the trainer consumed; trainers using workers should save their own step as ``"step"``.
        """
        return {"step": self.step, **self._config()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue after ``state["step"]`` batches; refuses a state from a different pool/mix/seed."""
        mismatched = {
            key: (state[key], value) for key, value in self._config().items() if key in state and state[key] != value
        }
        if mismatched:
            raise ValueError(
                f"sampler state does not match this data (saved, current): {mismatched}; "
                "resume with the same seed, regime and batch mix"
            )
        self.step = int(state["step"])
