"""Joint image+mask augmentation (torchvision ``transforms.v2``) and full-resolution evaluation helpers.

Transforms act on ``tv_tensors.Image`` (uint8 3×H×W) and ``tv_tensors.Mask`` (int64 H×W) together,
so geometry stays aligned; colour jitter, blur, noise and normalisation touch the image only. Crops pad
the mask with 255 (ignored) and the *normalised* image with 0: the mean colour under ImageNet
normalisation, black on raw [0, 1] inputs; either way it carries zero relevance into LRP.
"""

from __future__ import annotations

import math
from typing import Any, Literal

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

Normalisation = Literal["imagenet", "none"]
"""What the network sees: ``imagenet``, (x - mean) / std with :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD` (what
torchvision's ImageNet weights were trained on); ``none``, the raw [0, 1] pixels (the authors' released code)."""


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


def input_range(normalise: Normalisation = "imagenet") -> tuple[list[float], list[float]]:
    """Per-channel (low, high) of a [0, 1] image after ``normalise``: the bounds of LRP's zB rule at the input."""
    if normalise == "none":
        return [0.0] * 3, [1.0] * 3
    return (
        [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
        [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
    )


def _normalise(normalise: Normalisation) -> list[v2.Transform]:
    """The normalisation step, if any, after the image is a float in [0, 1]."""
    return [v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)] if normalise == "imagenet" else []


def _to_float() -> v2.ToDtype:
    """uint8 image → float in [0, 1]; mask → int64 unchanged."""
    return v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True)


def to_normalised(normalise: Normalisation = "imagenet") -> v2.Compose:
    """uint8 image → float, normalised as ``normalise`` says; mask → int64 unchanged."""
    return v2.Compose([_to_float(), *_normalise(normalise)])


def blur_kernel_size(max_sigma: float) -> int:
    """The odd Gaussian kernel that holds ±3 standard deviations of the widest blur."""
    return 2 * math.ceil(3 * max_sigma) + 1


def train_transform(
    crop_size: int = 256,
    scale_range: tuple[float, float] = (0.5, 2.0),
    flip_p: float = 0.5,
    color_jitter: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.05),
    *,
    blur_p: float = 0.0,
    blur_sigma: tuple[float, float] = (0.5, 2.5),
    noise_p: float = 0.0,
    noise_sigma: float = 0.02,
    normalise: Normalisation = "imagenet",
) -> v2.Compose:
    """Random scale, horizontal flip, colour jitter (brightness, contrast, saturation, hue), Gaussian blur (with
    probability ``blur_p``, sigma drawn from ``blur_sigma`` pixels), Gaussian noise (probability ``noise_p``,
    standard deviation ``noise_sigma`` on the [0, 1] scale, clipped to it), normalise, crop/pad.

    Noise is added before the crop pads, so padding stays exactly 0 (no relevance). Blur and noise join the
    pipeline only when their probability is positive: a transform that is off draws no random numbers, so the
    augmentation of settings without them is unchanged.
    """
    blur = [v2.RandomApply([v2.GaussianBlur(blur_kernel_size(blur_sigma[1]), blur_sigma)], p=blur_p)]
    noise = [v2.RandomApply([v2.GaussianNoise(sigma=noise_sigma, clip=True)], p=noise_p)]
    return v2.Compose(
        [
            RandomScale(scale_range),
            v2.RandomHorizontalFlip(flip_p),
            v2.ColorJitter(*color_jitter),
            *(blur if blur_p > 0 else []),
            _to_float(),
            *(noise if noise_p > 0 else []),
            *_normalise(normalise),
            v2.RandomCrop(crop_size, pad_if_needed=True, fill={tv_tensors.Image: 0.0, tv_tensors.Mask: IGNORE_INDEX}),
        ]
    )


def eval_transform(normalise: Normalisation = "imagenet") -> v2.Compose:
    """Full resolution, normalised only; :func:`~unrolled_lrp.data.datasets.collate` pads to the model's stride."""
    return to_normalised(normalise)


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
