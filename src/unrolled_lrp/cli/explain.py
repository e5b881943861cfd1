"""``ulrp explain`` and ``ulrp explain-demo``: parse, run :mod:`unrolled_lrp.experiments.explain`, print."""

from __future__ import annotations

from pathlib import Path

from unrolled_lrp.data.options import Device, PositiveInt
from unrolled_lrp.experiments.explain import Explanation, explain_demo_scene, explain_images
from unrolled_lrp.lrp import LRPConfig


def print_explanations(explained: list[Explanation]) -> None:
    """One line per explained image: the PNG written and the top class scores."""
    for item in explained:
        scores = ", ".join(f"{name} {score:.2f}" for name, score in item.top_scores)
        print(f"{item.image} -> {item.figure}  (top scores: {scores})")


def explain(
    images: list[Path],
    out_dir: Path = Path("runs/explain"),
    arch: str = "resnet18",
    checkpoint: Path | None = None,
    weights: str | None = None,
    classes: Path | None = None,
    lrp: LRPConfig = LRPConfig(class_chunk_size=50),
    size: PositiveInt | None = None,
    top_k: PositiveInt = 4,
    device: Device = "cpu",
) -> None:
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
        lrp: the LRP options (``--lrp.composite epsilon_gamma_box``, ...); decodes 50 classes at a time by default
            (bounded memory, same heatmaps); zB bounds left unset are the range of the ImageNet-normalised image.
        size: resize the shorter image side to this many pixels (default: keep the size; 224 for ImageNet).
        top_k: number of highest-scoring classes whose heatmaps are shown.
        device: "cpu" or "cuda".
    """
    explained = explain_images(
        images,
        out_dir=out_dir,
        arch=arch,
        checkpoint=checkpoint,
        weights=weights,
        classes=classes,
        lrp=lrp,
        size=size,
        top_k=top_k,
        device=device,
    )
    print_explanations(explained)


def explain_demo(out_dir: Path = Path("runs/explain_demo"), arch: str = "resnet18", seed: int = 0) -> None:
    """Explain a procedurally drawn scene with a randomly initialised classifier (no download needed).

    Shows the whole heatmap pipeline end to end; the heatmaps of an untrained classifier are not yet
    a segmentation.

    Args:
        out_dir: folder for the scene and its explanation PNG.
        arch: torchvision classifier architecture.
        seed: seed of the scene and the classifier's random initialisation.
    """
    print_explanations(explain_demo_scene(out_dir, arch=arch, seed=seed))
