"""Joint image+mask augmentation (torchvision ``transforms.v2``) and full-resolution evaluation helpers.

Transforms act on ``tv_tensors.Image`` (uint8 3×H×W) and ``tv_tensors.Mask`` (int64 H×W) together,
so geometry stays aligned; colour jitter and normalisation touch the image only. Crops pad the
mask with 255 (ignored) and the *normalised* image with 0, i.e. the mean colour, which also
carries zero relevance into LRP.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from .classes import IGNORE_INDEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Channel means of the ImageNet-pretrained torchvision encoders (inputs scaled to [0, 1])."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Channel standard deviations matching :data:`IMAGENET_MEAN`."""


def input_range(
    mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD
) -> tuple[list[float], list[float]]:
    """The per-channel range of a [0, 1] image after normalising with ``mean`` and ``std``: the bounds of LRP's
    zB rule (``LRPConfig.low``, ``high``)."""
    return [-m / s for m, s in zip(mean, std)], [(1 - m) / s for m, s in zip(mean, std)]


class RandomScale(v2.Transform):
    """Resize by a random factor of the input's own size (``v2.RandomResize`` targets absolute sizes)."""

    def __init__(self, scale_range: tuple[float, float] = (0.5, 2.0)) -> None:
        super().__init__()
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must be 0 < low <= high, got {scale_range}")
        self.scale_range = scale_range

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"scale": float(torch.empty(()).uniform_(*self.scale_range))}  # torch RNG, like other v2 transforms

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        height, width = F.get_size(inpt)
        size = [max(1, round(height * params["scale"])), max(1, round(width * params["scale"]))]
        # NEAREST_EXACT samples pixel centres like bilinear does, so mask and image stay aligned.
        mode = InterpolationMode.NEAREST_EXACT if isinstance(inpt, tv_tensors.Mask) else InterpolationMode.BILINEAR
        return F.resize(inpt, size, interpolation=mode, antialias=True)


def to_normalised() -> v2.Compose:
    """uint8 image → float normalised with ImageNet statistics; mask → int64 unchanged."""
    return v2.Compose(
        [
            v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def train_transform(
    crop_size: int = 256,
    scale_range: tuple[float, float] = (0.5, 2.0),
    flip_p: float = 0.5,
    color_jitter: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.05),
) -> v2.Compose:
    """Random scale, horizontal flip, colour jitter (brightness, contrast, saturation, hue), normalise, crop/pad."""
    return v2.Compose(
        [
            RandomScale(scale_range),
            v2.RandomHorizontalFlip(flip_p),
            v2.ColorJitter(*color_jitter),
            to_normalised(),
            v2.RandomCrop(crop_size, pad_if_needed=True, fill={tv_tensors.Image: 0.0, tv_tensors.Mask: IGNORE_INDEX}),
        ]
    )


def eval_transform() -> v2.Compose:
    """Full resolution, normalised only; :func:`~unrolled_lrp.data.datasets.collate` pads to the model's stride."""
    return to_normalised()


def padded_size(height: int, width: int, stride: int) -> tuple[int, int]:
    """Smallest size ≥ (height, width) divisible by ``stride``."""
    return math.ceil(height / stride) * stride, math.ceil(width / stride) * stride


def pad_bottom_right(tensor: torch.Tensor, height: int, width: int, fill: float) -> torch.Tensor:
    """Pad the last two dims at the bottom/right, so ``[..., :h, :w]`` recovers the original."""
    return torch.nn.functional.pad(tensor, (0, width - tensor.shape[-1], 0, height - tensor.shape[-2]), value=fill)


def crop_to_size(prediction: torch.Tensor, size: tuple[int, int] | torch.Tensor) -> torch.Tensor:
    """Undo the evaluation padding: keep the top-left ``size`` (height, width) of a prediction."""
    height, width = (int(v) for v in size)
    return prediction[..., :height, :width]
