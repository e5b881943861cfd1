"""Explanations of images: PNGs of a classifier's per-class LRP heatmaps, argmax segmentation and class scores,
for the VOC-style classes of a trained run or the 1000 ImageNet classes of torchvision's weights; and a scene
drawn procedurally, to try the pipeline without any download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import save_image

from unrolled_lrp.data.classes import VOC, ClassSet
from unrolled_lrp.data.transforms import IMAGENET_MEAN, IMAGENET_STD, input_range
from unrolled_lrp.data.voc import read_image
from unrolled_lrp.lrp import LRPConfig, unroll
from unrolled_lrp.models import build_classifier, classifier_stride, imagenet_categories
from unrolled_lrp.models.weights import is_weights_name
from unrolled_lrp.visualisation import save_explanation, save_top_classes

#: The size ImageNet classifiers see when ``explain`` is given no size.
IMAGENET_SIZE = 224


@dataclass(frozen=True)
class Explanation:
    """One explained image: where it came from, the PNG written and its highest class scores (name, score)."""

    image: Path
    figure: Path
    top_scores: list[tuple[str, float]]


def _load_image(path: Path, size: int | None, stride: int) -> torch.Tensor:
    """The image as floats in [0, 1], its shorter side resized to ``size``; refused when a side is shorter than the
    classifier's ``stride``, which leaves its last feature map empty (VGG fails there, other families explain noise)."""
    try:
        image = read_image(path)
    except OSError as error:  # PIL: missing, unreadable or not an image (UnidentifiedImageError)
        raise ValueError(f"cannot read image {path}: {error}") from None
    image = TF.to_dtype(image, torch.float32, scale=True)
    image = TF.resize(image, [size]) if size else image
    if min(image.shape[-2:]) < stride:
        height, width = image.shape[-2:]
        raise ValueError(
            f"{path}: {width}x{height} pixels{' after --size' if size else ''}; the classifier needs at least "
            f"{stride} on each side (its stride): pass --size {stride} or more"
        )
    return image


def explain_images(
    images: list[Path],
    *,
    out_dir: Path,
    arch: str = "resnet18",
    checkpoint: Path | None = None,
    weights: str | None = None,
    classes: Path | None = None,
    lrp: LRPConfig = LRPConfig(),
    size: int | None = None,
    top_k: int = 4,
    device: str = "cpu",
) -> list[Explanation]:
    """Write ``OUT_DIR/{image stem}_explanation.png`` for each image (see ``ulrp explain --help``).

    With ImageNet weights and no ``classes`` the classifier keeps its 1000 ImageNet classes: the PNG shows the
    heatmaps of the ``top_k`` classes and the argmax of all of them. zB bounds left unset in ``lrp`` are the range
    of a [0, 1] image after the ImageNet normalisation the images get here.
    """
    if not images:
        raise ValueError("images: give at least one image file to explain")
    imagenet = classes is None and weights is not None and is_weights_name(arch, weights)
    class_set = VOC if classes is None else ClassSet.from_yaml(classes)
    names = imagenet_categories(arch) if imagenet else class_set.names
    classifier = build_classifier(arch, len(names), weights=weights, checkpoint=checkpoint)
    model = unroll(classifier.eval(), lrp.with_input_range(*input_range())).to(device)
    explained = []
    for path in images:
        image = _load_image(path, size or (IMAGENET_SIZE if imagenet else None), classifier_stride(classifier))
        x = TF.normalize(image, IMAGENET_MEAN, IMAGENET_STD).unsqueeze(0).to(device)
        with torch.no_grad():
            out = model(x)
        target = out_dir / f"{path.stem}_explanation.png"
        heatmaps, logits = out.heatmaps[0], out.logits[0]
        if imagenet:
            save_top_classes(image, heatmaps, logits, names, target, top_k)
        else:
            save_explanation(image, heatmaps, logits, names, class_set.palette, target, top_k)
        top = [(names[k], float(logits[k])) for k in logits.argsort(descending=True)[:top_k]]
        explained.append(Explanation(path, target, top))
    return explained


def demo_scene(size: int = 160, seed: int = 0) -> torch.Tensor:
    """A small scene of textured shapes on a textured background, drawn procedurally: no download."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    image = 0.5 + 0.1 * torch.sin(8 * xx + 3 * yy) + 0.05 * torch.rand(3, size, size, generator=g)
    disc = (xx + 0.35) ** 2 + (yy + 0.2) ** 2 < 0.12
    square = ((xx - 0.4).abs() < 0.3) & ((yy - 0.35).abs() < 0.3)
    image[:, disc] = torch.tensor([0.8, 0.2, 0.2])[:, None] * (1 + 0.2 * torch.sin(20 * yy[disc]))
    image[:, square] = torch.tensor([0.2, 0.3, 0.8])[:, None] * (1 + 0.2 * torch.sin(20 * xx[square]))
    return image.clamp(0, 1)


def explain_demo_scene(out_dir: Path, *, arch: str = "resnet18", seed: int = 0) -> list[Explanation]:
    """Draw :func:`demo_scene` to ``OUT_DIR/scene.png`` and explain it with a randomly initialised classifier."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = out_dir / "scene.png"
    save_image(demo_scene(seed=seed), scene)
    torch.manual_seed(seed)
    return explain_images([scene], out_dir=out_dir, arch=arch)
