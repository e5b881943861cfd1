"""Does a classifier's LRP heatmap already locate and tell apart its classes? Zero-shot statistics per composite.

Not part of the library: the measurement behind the README's zero-shot tables (issue 17, item 6). For a classifier
(``classifier.pt`` of ``ulrp pretrain``, or torchvision's ImageNet weights with ``--imagenet``) and each LRP
composite, it computes the all-class heatmaps of the unrolled model on every ``--val_stride``-th val photo at
``--val_scale`` and prints one row per composite of the statistics of
:mod:`unrolled_lrp.evaluation.zero_shot`: per-pixel AUC, AUC of ``--pool`` x ``--pool`` block means (both per class
and their mean over the foreground classes), the class-contrast AUC (per ``--pairs`` pair, and the mean over all
foreground pairs) and the zero-shot mIoU of the per-pixel argmax. ``--json`` writes every number.

With ``--imagenet`` it explains the ImageNet classifier itself: each dataset class that :data:`IMAGENET_GROUPS`
maps to ImageNet classes gets the heatmap of the sum of their logits (the output layer's rows summed: LRP is linear
in the relevance it starts from); every other pixel (background, unmapped classes) is a negative. There is no
background heatmap, so no mIoU.

Examples::

    python scripts/heatmap_signal.py --checkpoint runs/msrc_pretrain/classifier.pt \\
        --root ../shared/datasets/msrc --classes ../shared/datasets/msrc/classes.yaml --val_stride 1 --val_scale 1
    python scripts/heatmap_signal.py --imagenet --pairs car:bicyclist
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unrolled_lrp.data import IGNORE_INDEX, DataConfig
from unrolled_lrp.evaluation.zero_shot import HeatmapSignal
from unrolled_lrp.lrp import LRPConfig, adapter_for, unroll
from unrolled_lrp.lrp.config import CompositeName
from unrolled_lrp.models import imagenet_categories
from unrolled_lrp.models.classifiers import build_classifier
from unrolled_lrp.runs import val_set

CAMVID = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "camvid"

#: ImageNet classes (by name) whose summed logit stands for a dataset class in ``--imagenet`` rows; dataset classes
#: not listed here (background, person, pedestrian, book shelves, ...) count as negatives.
IMAGENET_GROUPS: dict[str, list[str]] = {
    "aeroplane": ["airliner", "warplane"],
    "bicycle": ["bicycle-built-for-two", "mountain bike"],
    "bicyclist": ["bicycle-built-for-two", "mountain bike"],
    "boat": [
        "canoe",
        "catamaran",
        "container ship",
        "fireboat",
        "gondola",
        "lifeboat",
        "liner",
        "paddlewheel",
        "schooner",
        "speedboat",
        "trimaran",
        "yawl",
    ],  # fmt: skip
    "book": ["book jacket", "comic book"],
    "car": [
        "beach wagon",
        "cab",
        "convertible",
        "jeep",
        "limousine",
        "minivan",
        "Model T",
        "pickup",
        "racer",
        "sports car",
    ],  # fmt: skip
    "cat": ["tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"],
    "chair": ["barber chair", "folding chair", "rocking chair", "throne"],
    "cow": ["ox", "water buffalo"],
    "flower": ["daisy", "yellow lady's slipper"],
    "sheep": ["ram", "bighorn"],
    "sign": ["street sign"],
}
#: ImageNet's birds and dogs are index ranges of its class list (59 and 118 classes).
IMAGENET_RANGES = {"bird": [*range(7, 25), *range(80, 101), *range(127, 147)], "dog": list(range(151, 269))}


def parse_composite(text: str, data: DataConfig) -> LRPConfig:
    """ "NAME" or "NAME:EPSILON" (e.g. "epsilon:0.1"), with zB's bounds from the data's normalisation."""
    name, _, epsilon = text.partition(":")
    lrp = LRPConfig(composite=name, **({"epsilon": float(epsilon)} if epsilon else {}))
    return lrp.with_input_range(*data.input_range())


def photos(data: DataConfig, stride: int, scale: float) -> Iterator[tuple[Tensor, Tensor]]:
    """Every ``stride``-th val photo and mask, scaled by ``scale`` and cropped to a multiple of 32."""
    val = val_set(data)
    for i in range(0, len(val), stride):
        sample = val[i]
        size = [round(d * scale) for d in sample.image.shape[-2:]]
        image = F.interpolate(sample.image[None], size=size, mode="bilinear", antialias=True)
        mask = F.interpolate(sample.mask[None, None].float(), size=size, mode="nearest")[0, 0].long()
        height, width = (d // 32 * 32 for d in size)
        yield image[..., :height, :width], mask[:height, :width]


def imagenet_classifier(arch: str, class_names: tuple[str, ...]) -> tuple[nn.Module, list[int]]:
    """The ImageNet classifier with one output per mapped dataset class (its ImageNet classes' rows summed), and the
    dataset indices of those classes."""
    classifier = build_classifier(arch, 1000, weights="imagenet")
    index = {name: i for i, name in enumerate(imagenet_categories(arch))}
    groups = {name: [index[n] for n in names] for name, names in IMAGENET_GROUPS.items()} | IMAGENET_RANGES
    mapped = [c for c, name in enumerate(class_names) if name in groups]
    adapter = adapter_for(classifier)
    full = adapter.output_layer(classifier)
    summed = nn.Linear(full.in_features, len(mapped))
    with torch.no_grad():
        for row, c in enumerate(mapped):
            summed.weight[row] = full.weight[groups[class_names[c]]].sum(0)
            summed.bias[row] = full.bias[groups[class_names[c]]].sum()
    merged = copy.deepcopy(classifier)
    adapter.replace_output_layer(merged, summed)
    return merged, mapped


def relabel(mask: Tensor, mapped: list[int]) -> Tensor:
    """Dataset labels -> 1 + position in ``mapped``; every other labelled pixel 0 (a negative); void stays void."""
    out = torch.where(mask == IGNORE_INDEX, IGNORE_INDEX, 0)
    for position, c in enumerate(mapped):
        out[mask == c] = position + 1
    return out


def measure(
    classifier: nn.Module,
    lrp: LRPConfig,
    images: list[tuple[Tensor, Tensor]],
    num_classes: int,
    args: argparse.Namespace,
) -> dict:
    """One composite's statistics; ``num_classes`` includes a leading all-zero heatmap when the model has none."""
    model = unroll(classifier, lrp).eval()
    offset = num_classes - model.num_classes  # 1 for ImageNet rows: class 0 = the negatives, heatmap zero
    signal = HeatmapSignal(num_classes, pool=args.pool)
    for image, mask in images:
        with torch.no_grad():
            out = model(image)
        heatmaps = out.heatmaps[0]
        if args.start == "one":  # every rule is linear in the relevance it starts from
            heatmaps = heatmaps / out.logits[0, :, None, None]
        signal.update(torch.cat([heatmaps.new_zeros(offset, *heatmaps.shape[1:]), heatmaps]), mask)
    return signal.compute()


def row(composite: str, result: dict, names: list[str], pairs: list[tuple[int, int]], miou: bool) -> str:
    """A Markdown row: mean foreground AUCs (per class in brackets), contrast AUCs, mIoU."""

    def classes(values: list[float]) -> str:
        foreground = values[1:]
        mean = statistics.fmean(v for v in foreground if v == v)
        return f"{mean:.2f} ({' / '.join(f'{v:.2f}' for v in foreground)})"

    contrast = result["contrast_auc"]
    named = " / ".join(f"{contrast[min(pair), max(pair)]:.2f}" for pair in pairs)  # symmetric in a, b
    mean_contrast = statistics.fmean(v for v in contrast.values() if v == v)
    iou = f"{100 * result['miou']:.1f}" if miou else "-"
    cells = [composite, classes(result["pixel_auc"]), classes(result["pooled_auc"]), named, f"{mean_contrast:.2f}"]
    return "| " + " | ".join([*cells, iou]) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="classifier.pt of a pre-training run")
    source.add_argument("--imagenet", action="store_true", help="explain the ImageNet classifier (IMAGENET_GROUPS)")
    parser.add_argument("--arch", default="mobilenet_v2")
    parser.add_argument("--root", type=Path, default=CAMVID)
    parser.add_argument("--classes", type=Path, default=CAMVID / "classes.yaml")
    parser.add_argument("--composites", default=",".join(get_args(CompositeName)))
    parser.add_argument("--pairs", default="car:bicyclist", help="A:B,C:D: contrast AUCs printed by name")
    parser.add_argument("--val_stride", type=int, default=5)
    parser.add_argument("--val_scale", type=float, default=0.5)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--json", type=Path, help="write every statistic here")
    parser.add_argument(
        "--start",
        choices=["logit", "one"],
        default="logit",
        help="relevance each class starts from: its logit (unrolled LRP, the paper) or 1 (zennit's one-hot "
        "attribution; the heatmaps lose the logit's sign and size)",
    )
    args = parser.parse_args()
    data = DataConfig(root=args.root, classes=args.classes)
    names = list(data.class_set().names)
    images = list(photos(data, args.val_stride, args.val_scale))
    if args.imagenet:
        classifier, mapped = imagenet_classifier(args.arch, tuple(names))
        images = [(image, relabel(mask, mapped)) for image, mask in images]
        names = ["(other)", *(names[c] for c in mapped)]
    else:
        classifier = build_classifier(args.arch, len(names), checkpoint=args.checkpoint)
    pairs = [(names.index(a), names.index(b)) for a, b in (p.split(":") for p in args.pairs.split(",")) if a in names]
    print(f"{len(images)} val photos; foreground classes: {' / '.join(names[1:])}")
    named = ", ".join(f"{names[a]}-{names[b]}" for a, b in pairs)
    pooled = f"AUC of {args.pool}x{args.pool} means"
    print(f"| composite | pixel AUC | {pooled} | contrast AUC {named} | contrast AUC, all pairs | zero-shot mIoU |")
    print("|---|---|---|---:|---:|---:|")
    results = {}
    for text in args.composites.split(","):
        result = measure(classifier, parse_composite(text, data), images, len(names), args)
        print(row(text, result, names, pairs, miou=not args.imagenet), flush=True)
        contrast = {f"{names[a]}-{names[b]}": v for (a, b), v in result["contrast_auc"].items()}
        results[text] = {**result, "contrast_auc": contrast}
    if args.json:
        args.json.write_text(json.dumps({"classes": names, "photos": len(images), "results": results}, indent=1))


if __name__ == "__main__":
    main()
