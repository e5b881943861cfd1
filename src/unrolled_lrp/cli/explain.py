"""``ulrp explain`` and ``ulrp explain-demo``: PNGs of a classifier's per-class LRP heatmaps (VOC-style classes of
a trained run, or the 1000 ImageNet classes of torchvision's weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torchvision.transforms.v2 import functional as TF

from unrolled_lrp.data.classes import VOC_CLASSES, ClassSet
from unrolled_lrp.data.options import Device, PositiveInt
from unrolled_lrp.data.transforms import IMAGENET_MEAN, IMAGENET_STD, input_range
from unrolled_lrp.data.voc import read_image
from unrolled_lrp.lrp import LRPConfig, unroll
from unrolled_lrp.lrp.config import CompositeName
from unrolled_lrp.models import build_classifier, classifier_stride, imagenet_categories
from unrolled_lrp.models.classifiers import is_weights_name
from unrolled_lrp.visualisation import save_explanation, save_top_classes


def _load_image(path: Path, size: int | None, stride: int) -> torch.Tensor:
    """The image as floats in [0, 1], its shorter side resized to ``size``; refused when a side is shorter than the
    classifier's ``stride``, which leaves its last feature map empty (VGG fails there, other families explain noise)."""
    try:
        image = read_image(path)
    except OSError as error:  # PIL: missing, unreadable or not an image (UnidentifiedImageError)
        raise SystemExit(f"error: cannot read image {path}: {error}") from None
    image = TF.to_dtype(image, torch.float32, scale=True)
    image = TF.resize(image, [size]) if size else image
    if min(image.shape[-2:]) < stride:
        height, width = image.shape[-2:]
        raise ValueError(
            f"{path}: {width}x{height} pixels{' after --size' if size else ''}; the classifier needs at least "
            f"{stride} on each side (its stride): pass --size {stride} or more"
        )
    return image


def explain(
    images: list[Path],
    out_dir: Path = Path("runs/explain"),
    arch: str = "resnet18",
    checkpoint: Path | None = None,
    weights: str | None = None,
    classes: Path | None = None,
    composite: CompositeName = "zero",
    epsilon: float = 1e-6,
    relu6: Literal["auto", "gradient", "ratio"] = "auto",
    class_chunk_size: PositiveInt | None = 50,
    size: PositiveInt | None = None,
    top_k: PositiveInt = 4,
    device: Device = "cpu",
) -> list[Path]:
    """Write, for each image, a PNG with its per-class LRP heatmaps, argmax segmentation and class scores.

    With ImageNet weights and no ``classes`` (e.g. ``--arch mobilenet_v2 --weights imagenet``), the classifier
    keeps its 1000 ImageNet classes, named from torchvision's weights metadata: the PNG shows the heatmaps of
    the ``top_k`` classes and the argmax of all 1000 heatmaps.

    Args:
        images: image files (JPEG/PNG) to explain.
        out_dir: folder for the PNGs (created).
        arch: torchvision classifier architecture (resnet*, resnext*, wide_resnet*, vgg*, mobilenet_v2).
        checkpoint: ``classifier.pt`` of ``ulrp pretrain``, or ``best.pt`` of an unrolled_lrp/ws_ae training run.
        weights: "imagenet" for torchvision's ImageNet weights (local torch hub cache; for mobilenet_v2 also the
            offline weights package), or the path of a state-dict file of your own.
        classes: YAML file with the class list (``classes: [background, ...]``); default: the 21 VOC classes, or
            the 1000 ImageNet classes with ImageNet weights.
        composite: the LRP rule of every layer (see ``LRPConfig.composite``): "zero" (LRP-0, exact), "epsilon",
            "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box" or "epsilon_alpha2_beta1_flat".
        epsilon: the epsilon of LRP-epsilon.
        relu6: ReLU6 rule (MobileNetV2): "gradient" (heatmaps = input x gradient), "ratio" (relu6(z)/z) or "auto".
        class_chunk_size: decode at most this many classes at once (bounds memory; same heatmaps).
        size: resize the shorter image side to this many pixels (default: keep the size; 224 for ImageNet).
        top_k: number of highest-scoring classes whose heatmaps are shown.
        device: "cpu" or "cuda".
    """
    imagenet = classes is None and weights is not None and is_weights_name(arch, weights)
    names = imagenet_categories(arch) if imagenet else _class_set(classes).names
    if not images:
        raise ValueError("images: give at least one image file to explain")
    classifier = build_classifier(arch, len(names), weights=weights, checkpoint=checkpoint)
    lrp = LRPConfig(composite=composite, epsilon=epsilon, relu6=relu6, class_chunk_size=class_chunk_size)
    lrp = lrp.with_input_range(*input_range())
    model = unroll(classifier.eval(), lrp).to(device)
    written = []
    for path in images:
        image = _load_image(path, size or (224 if imagenet else None), classifier_stride(classifier))
        x = TF.normalize(image, IMAGENET_MEAN, IMAGENET_STD).unsqueeze(0).to(device)
        with torch.no_grad():
            out = model(x)
        target = out_dir / f"{path.stem}_explanation.png"
        heatmaps, logits = out.heatmaps[0], out.logits[0]
        if imagenet:
            written.append(save_top_classes(image, heatmaps, logits, names, target, top_k))
        else:
            palette = _class_set(classes).palette
            written.append(save_explanation(image, heatmaps, logits, names, palette, target, top_k))
        scores = ", ".join(f"{names[k]} {logits[k]:.2f}" for k in logits.argsort(descending=True)[:top_k])
        print(f"{path} -> {target}  (top scores: {scores})")
    return written


def _class_set(classes: Path | None) -> ClassSet:
    return ClassSet.from_yaml(classes) if classes else ClassSet.from_names(VOC_CLASSES)


def _demo_scene(size: int = 160, seed: int = 0) -> torch.Tensor:
    """A small scene of textured shapes on a textured background, drawn procedurally: no download."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    image = 0.5 + 0.1 * torch.sin(8 * xx + 3 * yy) + 0.05 * torch.rand(3, size, size, generator=g)
    disc = (xx + 0.35) ** 2 + (yy + 0.2) ** 2 < 0.12
    square = ((xx - 0.4).abs() < 0.3) & ((yy - 0.35).abs() < 0.3)
    image[:, disc] = torch.tensor([0.8, 0.2, 0.2])[:, None] * (1 + 0.2 * torch.sin(20 * yy[disc]))
    image[:, square] = torch.tensor([0.2, 0.3, 0.8])[:, None] * (1 + 0.2 * torch.sin(20 * xx[square]))
    return image.clamp(0, 1)


def explain_demo(out_dir: Path = Path("runs/explain_demo"), arch: str = "resnet18", seed: int = 0) -> list[Path]:
    """Explain a procedurally drawn scene with a randomly initialised classifier (no download needed).

    Shows the whole heatmap pipeline end to end; the heatmaps of an untrained classifier are not yet
    a segmentation.

    Args:
        out_dir: folder for the scene and its explanation PNG.
        arch: torchvision classifier architecture.
        seed: seed of the scene and the classifier's random initialisation.
    """
    from torchvision.utils import save_image

    out_dir.mkdir(parents=True, exist_ok=True)
    scene = out_dir / "scene.png"
    save_image(_demo_scene(seed=seed), scene)
    torch.manual_seed(seed)
    return explain([scene], out_dir=out_dir, arch=arch)
