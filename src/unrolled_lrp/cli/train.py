"""``ulrp train`` / ``ulrp eval`` / ``ulrp demo``: run directories with config, regime list, metrics, checkpoints."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import torch
import yaml

from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.data.synth import write_synthetic_voc
from unrolled_lrp.evaluation.evaluate import evaluate
from unrolled_lrp.models import build_classifier, build_model, count_parameters
from unrolled_lrp.training.checkpoint import load
from unrolled_lrp.training.trainer import TrainConfig, train as train_loop


def _model(name: str, arch: str, num_classes: int, classifier_checkpoint: Path | None, weights: str | None):
    classifier = build_classifier(arch, num_classes, weights=weights, checkpoint=classifier_checkpoint)
    return build_model(name, classifier, num_classes)


def _prepare_run_dir(out_dir: Path, overwrite: bool) -> None:
    if (out_dir / "last.pt").exists() or (out_dir / "metrics.json").exists():
        if not overwrite:
            print(f"resuming the run in {out_dir} (pass --overwrite true to start it anew)")
            return
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def train(
    data: DataConfig,
    optim: TrainConfig = TrainConfig(),
    model: str = "unrolled_lrp",
    arch: str = "resnet18",
    classifier_checkpoint: Path | None = None,
    weights: str | None = None,
    out_dir: Path = Path("runs/train"),
    overwrite: bool = False,
) -> dict:
    """Train a segmentation model from a classifier; resumes an interrupted run in ``out_dir``.

    Models without a classification branch (unet, fcn) get pixel-labelled batches only, as in the paper.
    The best checkpoint is chosen on the hold-out split; VOC val is only used by ``ulrp eval``.

    Args:
        data: dataset, label regime and batch settings.
        optim: optimisation settings.
        model: unrolled_lrp, ws_ae, unet, mt_unet or fcn.
        arch: torchvision classifier architecture of the encoder.
        classifier_checkpoint: pre-trained classifier weights every model starts from.
        weights: "imagenet" to start from torchvision's ImageNet weights (local cache) instead.
        out_dir: run directory (config.yaml, regime list, log.csv, last.pt, best.pt, metrics.json).
        overwrite: delete an existing run in ``out_dir`` instead of resuming it.
    """
    _prepare_run_dir(out_dir, overwrite)
    classes = data.class_set()
    segmenter = _model(model, arch, classes.num_classes, classifier_checkpoint, weights)
    if not segmenter.uses_image_labels:
        data = replace(data, pixel_fraction=1.0)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(
        {"data": asdict(data), "optim": asdict(optim), "model": model, "arch": arch,
         "classifier_checkpoint": classifier_checkpoint, "weights": weights}, default=str))))
    training_data = build_training_data(data, regime_dir=out_dir)
    best = train_loop(segmenter, training_data, optim, out_dir, list(classes.names))
    result = {"model": model, "arch": arch, "parameters": count_parameters(segmenter), "holdout": best}
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2))
    print(f"{model}: best hold-out mIoU {100 * best['miou']:.2f} at step {best['step']} -> {out_dir}")
    return result


def eval(
    data: DataConfig,
    run_dir: Path,
    device: str = "cpu",
) -> dict:
    """Evaluate the best checkpoint of a run on the dataset's val list at full resolution.

    Writes ``val_metrics.json`` (mIoU, per-class IoU, pixel accuracy, foreground macro F1) and prints a table.

    Args:
        data: the dataset (``root``, ``classes``) to evaluate on.
        run_dir: a run directory written by ``ulrp train``.
        device: "cpu" or "cuda".
    """
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    classes = data.class_set()
    segmenter = _model(config["model"], config["arch"], classes.num_classes, None, None)
    segmenter.load_state_dict(load(run_dir / "best.pt")["model"])
    segmenter.to(device)
    val = build_training_data(replace(data, num_pixel=None)).val
    metrics = evaluate(segmenter, val, list(classes.names), device)
    (run_dir / "val_metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"{config['model']} ({run_dir}): val mIoU {100 * metrics['miou']:.2f}" + (f", F1 {100 * metrics['f1']:.2f}" if "f1" in metrics else ""))
    return metrics


def demo(
    out_dir: Path = Path("runs/demo"),
    steps: int = 150,
    num_pixel: int = 8,
    models: list[str] = ["unrolled_lrp", "unet"],  # noqa: B006 - jsonargparse needs a literal default
    seed: int = 0,
) -> dict[str, dict]:
    """The whole method on the bundled synthetic dataset, on CPU in minutes.

    Writes a synthetic VOC-layout dataset, trains each model from the same randomly initialised ResNet18
    with ``num_pixel`` pixel-labelled images (plus image-level labels for models that use them), evaluates
    each on the val list and prints a comparison table.

    Args:
        out_dir: folder for the dataset and the runs.
        steps: training iterations per model.
        num_pixel: pixel-labelled training images.
        models: models to compare.
        seed: seed of the dataset, the regime, the initialisation and the batches.
    """
    root = out_dir / "data"
    if not (root / "VOCdevkit").exists():
        write_synthetic_voc(root, num_pixel_train=40, num_val=20, num_image_level=60, image_size=96, seed=seed)
    data = DataConfig(root=root, num_pixel=num_pixel, crop_size=96, batch_size=10, seed=seed)
    optim = TrainConfig(steps=steps, lr=1e-3, eval_every=max(1, steps // 3), seed=seed)
    results = {}
    for name in models:
        torch.manual_seed(seed)
        train(data, optim, model=name, out_dir=out_dir / name)
        results[name] = eval(data, out_dir / name)
    print(f"\n| model | val mIoU | F1 |\n|---|---|---|")
    for name, metrics in results.items():
        f1 = f"{100 * metrics['f1']:.2f}" if "f1" in metrics else "-"
        print(f"| {name} | {100 * metrics['miou']:.2f} | {f1} |")
    return results
