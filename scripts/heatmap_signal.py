"""Does a classifier's LRP heatmap already locate its classes? Zero-shot statistics per LRP rule.

Not a test and not part of the library: a fixed measurement behind the README's CamVid section. For a
pre-trained classifier (``classifier.pt`` of ``ulrp pretrain``) and each LRP rule, it computes the
all-class heatmaps of the unrolled model on every ``--val_stride``-th val photo at ``--val_scale`` and prints:

* **AUC per class**: the probability that the class's heatmap is larger on a pixel of that class than on a
  pixel of another class (0.5: no information; threshold-free, so the heatmaps' scale and bias do not matter);
* the same after averaging the heatmaps over ``--pool`` x ``--pool`` blocks (is the signal there but noisy?);
* **zero-shot mIoU** of the per-pixel argmax over classes (what the untrained segmenter would predict);
* the share of positive heatmap values and the correlation of horizontally neighbouring pixels (white noise: ~0).

With ``--imagenet CLASS=I,J,...`` it explains the ImageNet classifier itself instead: the sum of the heatmaps of
ImageNet classes I, J, ... scored against the dataset's class CLASS (is the backbone's own explanation informative,
before any fine-tuning?).

Examples (the README's tables)::

    python scripts/heatmap_signal.py --checkpoint runs/camvid_study/mobilenet_v2/pretrain/classifier.pt
    python scripts/heatmap_signal.py --rules zero,epsilon:0.1,epsilon:1 \\
        --imagenet car=436,468,511,609,627,656,661,717,751,817
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from unrolled_lrp.data import IGNORE_INDEX, DataConfig
from unrolled_lrp.lrp import unroll
from unrolled_lrp.models.classifiers import build_classifier
from unrolled_lrp.runs import val_set

CAMVID = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "camvid"


def parse_rule(text: str) -> dict:
    """ "zero" or "epsilon:VALUE", optionally with "+ratio" (ReLU6 ratio mode), as ``unroll`` keyword arguments."""
    text, _, relu6 = text.partition("+")
    rule, _, value = text.partition(":")
    return {"rule": rule, **({"epsilon": float(value)} if value else {}), **({"relu6": relu6} if relu6 else {})}


def auc(scores: Tensor, positive: Tensor) -> float:
    """Mann-Whitney AUC of ``scores`` separating ``positive`` from the rest, ties counted half; nan when one side is
    empty."""
    n_pos = int(positive.sum())
    n_neg = positive.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ordered, order = scores.sort()
    _, group, counts = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    ranks = torch.empty_like(scores, dtype=torch.float64)
    ranks[order] = (ends - (counts - 1) / 2)[group]  # tied scores share their mean rank (half a win each)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def block_mean(maps: Tensor, size: int) -> Tensor:
    """Each ``size`` x ``size`` block replaced by its mean (same shape)."""
    return F.interpolate(F.avg_pool2d(maps[None], size), scale_factor=size, mode="nearest")[0]


def photos(args: argparse.Namespace) -> list[tuple[Tensor, Tensor]]:
    """Every ``val_stride``-th val photo and mask, scaled by ``val_scale`` and cropped to a multiple of 32."""
    val = val_set(DataConfig(root=args.root, classes=args.classes))
    out = []
    for i in range(0, len(val), args.val_stride):
        sample = val[i]
        size = [round(d * args.val_scale) // 32 * 32 for d in sample.image.shape[-2:]]
        image = F.interpolate(sample.image[None], size=size, mode="bilinear", antialias=True)
        mask = F.interpolate(sample.mask[None, None].float(), size=size, mode="nearest")[0, 0].long()
        out.append((image, mask))
    return out


def statistics(maps: list[Tensor], masks: list[Tensor], pool: int) -> dict[str, list[float] | float]:
    """The printed statistics of one rule's heatmaps (each ``(K, H, W)``) against the masks."""
    num_classes = maps[0].shape[0]
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    aucs, pooled_aucs, positive, neighbour = [], [], [], []
    for heat, mask in zip(maps, masks):
        valid = mask != IGNORE_INDEX
        pooled = block_mean(heat, pool)
        aucs.append([auc(heat[c][valid], mask[valid] == c) for c in range(num_classes)])
        pooled_aucs.append([auc(pooled[c][valid], mask[valid] == c) for c in range(num_classes)])
        pairs = mask[valid] * num_classes + heat.argmax(0)[valid]
        confusion += torch.bincount(pairs, minlength=num_classes**2).view(num_classes, num_classes)
        positive.append(float((heat > 0).float().mean()))
        centred = heat.double() - heat.double().mean((1, 2), keepdim=True)
        centred = centred / centred.abs().amax().clamp_min(1e-300)  # tiny epsilon-rule maps would underflow
        neighbour.append(float((centred[:, :, 1:] * centred[:, :, :-1]).mean() / centred.pow(2).mean()))
    iou = confusion.diag() / (confusion.sum(0) + confusion.sum(1) - confusion.diag()).clamp_min(1)
    return {
        "auc": torch.tensor(aucs).nanmean(0).tolist(),
        "pooled_auc": torch.tensor(pooled_aucs).nanmean(0).tolist(),
        "miou": 100 * float(iou.mean()),
        "positive": sum(positive) / len(positive),
        "neighbour": sum(neighbour) / len(neighbour),
    }


def imagenet_rows(args: argparse.Namespace, images: list[Tensor], masks: list[Tensor], class_names: tuple) -> None:
    """One row per rule: AUC of the summed heatmaps of ImageNet classes against one dataset class."""
    name, _, indices = args.imagenet.partition("=")
    target, imagenet_classes = class_names.index(name), [int(i) for i in indices.split(",")]
    classifier = build_classifier(args.arch, 1000, weights="imagenet").eval()
    print(f"| rule | {name} pixel AUC | {name} AUC of {args.pool}x{args.pool} means |")
    print("|---|---:|---:|")
    for text in args.rules.split(","):
        model = unroll(classifier, **parse_rule(text))
        pixel, pooled = [], []
        for image, mask in zip(images, masks):
            with torch.no_grad():
                heat = model(image, classes=imagenet_classes).heatmaps[0].sum(0, keepdim=True)
            valid = mask != IGNORE_INDEX
            pixel.append(auc(heat[0][valid], mask[valid] == target))
            pooled.append(auc(block_mean(heat, args.pool)[0][valid], mask[valid] == target))
        print(f"| {text} | {torch.tensor(pixel).nanmean():.2f} | {torch.tensor(pooled).nanmean():.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="classifier.pt of a pre-training run")
    source.add_argument("--imagenet", help="CLASS=I,J,...: explain ImageNet classes I, J, ... as the dataset's CLASS")
    parser.add_argument("--arch", default="mobilenet_v2")
    parser.add_argument("--root", type=Path, default=CAMVID)
    parser.add_argument("--classes", type=Path, default=CAMVID / "classes.yaml")
    parser.add_argument("--rules", default="zero,zero+ratio,epsilon:0.01,epsilon:0.1,epsilon:1,epsilon:3,epsilon:10")
    parser.add_argument("--val_stride", type=int, default=5)
    parser.add_argument("--val_scale", type=float, default=0.5)
    parser.add_argument("--pool", type=int, default=8)
    args = parser.parse_args()
    class_names = DataConfig(root=args.root, classes=args.classes).class_set().names
    images, masks = zip(*photos(args))
    names = " / ".join(class_names)
    print(f"{len(images)} val photos; per class: {names}")
    if args.imagenet:
        imagenet_rows(args, list(images), list(masks), class_names)
        return
    classifier = build_classifier(args.arch, len(class_names), checkpoint=args.checkpoint).eval()
    pooled = f"AUC of {args.pool}x{args.pool} means"
    print(f"| rule | pixel AUC | {pooled} | zero-shot mIoU | positive share | neighbour corr. |")
    print("|---|---|---|---:|---:|---:|")
    for text in args.rules.split(","):
        model = unroll(classifier, **parse_rule(text))
        with torch.no_grad():
            maps = [model(image).heatmaps[0] for image in images]
        s = statistics(maps, list(masks), args.pool)
        fmt = " / ".join
        print(
            f"| {text} | {fmt(f'{v:.2f}' for v in s['auc'])} | {fmt(f'{v:.2f}' for v in s['pooled_auc'])} "
            f"| {s['miou']:.1f} | {s['positive']:.2f} | {s['neighbour']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
