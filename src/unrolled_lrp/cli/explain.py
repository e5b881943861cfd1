"""``ulrp explain`` and ``ulrp explain-demo``: PNGs of a classifier's per-class LRP heatmaps."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF

from unrolled_lrp.data.classes import VOC_CLASSES, ClassSet
from unrolled_lrp.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from unrolled_lrp.data.voc import read_image
from unrolled_lrp.lrp import unroll
from unrolled_lrp.models import build_classifier
from unrolled_lrp.visualisation import save_explanation


def _load_image(path: Path, size: int | None) -> torch.Tensor:
    try:
        image = read_image(path)
    except OSError as error:  # PIL: missing, unreadable or not an image (UnidentifiedImageError)
        raise SystemExit(f"error: cannot read image {path}: {error}") from None
    image = TF.to_dtype(image, torch.float32, scale=True)
    return TF.resize(image, [size]) if size else image


def explain(
    images: list[Path],
    out_dir: Path = Path("runs/explain"),
    arch: str = "resnet18",
    checkpoint: Path | None = None,
    weights: str | None = None,
    classes: Path | None = None,
    rule: str = "zero",
    epsilon: float = 1e-6,
    size: int | None = None,
    top_k: int = 4,
    device: str = "cpu",
) -> list[Path]:
    """Write, for each image, a PNG with its per-class LRP heatmaps, argmax segmentation and class scores.

    Args:
        images: image files (JPEG/PNG) to explain.
        out_dir: folder for the PNGs (created).
        arch: torchvision classifier architecture (resnet18/34/50/101/152, resnext*, wide_resnet*, vgg*).
        checkpoint: ``classifier.pt`` of ``ulrp pretrain``, or ``best.pt`` of an unrolled_lrp/ws_ae training run.
        weights: "imagenet" to start from torchvision's ImageNet weights in the local torch hub cache.
        classes: YAML file with the class list (``classes: [background, ...]``); default: the 21 VOC classes.
        rule: "zero" (LRP-0, exact) or "epsilon" (LRP-epsilon).
        epsilon: stabiliser of LRP-epsilon.
        size: resize the shorter image side to this many pixels (default: keep the size).
        top_k: number of highest-scoring classes whose heatmaps are shown.
        device: "cpu" or "cuda".
    """
    class_set = ClassSet.from_yaml(classes) if classes else ClassSet.from_names(VOC_CLASSES)
    classifier = build_classifier(arch, class_set.num_classes, weights=weights, checkpoint=checkpoint)
    model = unroll(classifier.eval(), rule=rule, epsilon=epsilon).to(device)
    written = []
    for path in images:
        image = _load_image(path, size)
        x = TF.normalize(image, IMAGENET_MEAN, IMAGENET_STD).unsqueeze(0).to(device)
        with torch.no_grad():
            out = model(x)
        target = out_dir / f"{path.stem}_explanation.png"
        written.append(
            save_explanation(image, out.heatmaps[0], out.logits[0], class_set.names, class_set.palette, target, top_k)
        )
        scores = ", ".join(
            f"{class_set.names[k]} {out.logits[0, k]:.2f}" for k in out.logits[0].argsort(descending=True)[:top_k]
        )
        print(f"{path} -> {target}  (top scores: {scores})")
    return written


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
