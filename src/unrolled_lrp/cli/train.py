"""``ulrp pretrain`` / ``train`` / ``eval`` / ``demo``: run directories with config, regimes, metrics, checkpoints."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import torch
import yaml

from unrolled_lrp.cli.explain import explain
from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.data.synth import write_synthetic_voc
from unrolled_lrp.evaluation import metrics_table
from unrolled_lrp.evaluation.evaluate import evaluate
from unrolled_lrp.models import build_classifier, build_model, count_parameters
from unrolled_lrp.training.checkpoint import load
from unrolled_lrp.training.distributed import Distributed, setup
from unrolled_lrp.training.pretrain import ImageClassifier, pretrain_classifier
from unrolled_lrp.training.trainer import TrainConfig
from unrolled_lrp.training.trainer import train as train_loop


def _model(
    name: str,
    arch: str,
    num_classes: int,
    classifier_checkpoint: Path | None,
    weights: str | None,
    model_args: dict | None = None,
):
    classifier = build_classifier(arch, num_classes, weights=weights, checkpoint=classifier_checkpoint)
    return build_model(name, classifier, num_classes, **(model_args or {}))


#: Settings a resumed run may change: how long it runs and where, not what it computes.
RESUMABLE_CHANGES = frozenset({"optim.steps", "optim.device", "optim.eval_every", "optim.log_every", "data.workers"})


def _plain_config(**values) -> dict:
    """The resolved configuration of a run as plain YAML-able values (paths and other objects as strings)."""
    return json.loads(
        json.dumps({k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in values.items()}, default=str)
    )


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_resumable(out_dir: Path, config: dict) -> None:
    """Refuse to resume a run with settings that change what it computes: the result would match neither."""
    saved_file = out_dir / "config.yaml"
    if not saved_file.exists():
        return
    saved, new = _flatten(yaml.safe_load(saved_file.read_text()) or {}), _flatten(config)
    changed = sorted(k for k in saved.keys() | new.keys() if saved.get(k) != new.get(k) and k not in RESUMABLE_CHANGES)
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in changed)
        raise ValueError(
            f"{out_dir} holds a run with other settings ({details}); resume it with its own "
            f"settings ({saved_file}), pass --overwrite true to start it anew, or choose another --out_dir"
        )


def _prepare_run_dir(out_dir: Path, overwrite: bool, config: dict) -> None:
    if (out_dir / "last.pt").exists() or (out_dir / "metrics.json").exists():
        if not overwrite:
            _check_resumable(out_dir, config)
            print(f"resuming the run in {out_dir} (pass --overwrite true to start it anew)")
            return
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def _start_run(out_dir: Path, overwrite: bool, device: str, **config) -> Distributed:
    """Join the torchrun job if there is one; rank 0 prepares the run directory and writes the config while
    the other ranks wait."""
    ranks = setup(device)
    if ranks.is_main:
        plain = _plain_config(**config)
        _prepare_run_dir(out_dir, overwrite, plain)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(plain, sort_keys=False))
    ranks.barrier()
    return ranks


def pretrain(
    data: DataConfig,
    optim: TrainConfig = TrainConfig(lr=1e-4, steps=1000, eval_every=1000),
    arch: str = "resnet18",
    weights: str | None = None,
    classifier_checkpoint: Path | None = None,
    out_dir: Path = Path("runs/pretrain"),
    overwrite: bool = False,
) -> dict:
    """Fine-tune a classifier on the image-level labels of every training image (sigmoid BCE, background
    weight 0) and save ``OUT_DIR/classifier.pt``, the starting point of ``ulrp train --classifier_checkpoint``.

    ``ulrp pretrain --resume RUN_DIR`` continues an interrupted pre-training with its saved settings.
    The classifier F1 on the val list is reported in ``metrics.json`` (Table 2, column "0" of the paper); it
    is never used to select anything. Runs on several GPUs under torchrun like ``ulrp train``.

    Args:
        data: dataset settings (``num_pixel`` and ``pixel_fraction`` are ignored: all labels are image-level).
        optim: optimisation settings.
        arch: torchvision classifier architecture.
        weights: "imagenet" to start from torchvision's ImageNet weights (local cache); default random.
        classifier_checkpoint: start from these classifier weights instead.
        out_dir: run directory (config.yaml, log.csv, last.pt, classifier.pt, metrics.json).
        overwrite: delete an existing run in ``out_dir`` instead of resuming it.
    """
    classes = data.class_set()
    classifier = build_classifier(arch, classes.num_classes, weights=weights, checkpoint=classifier_checkpoint)
    ranks = _start_run(
        out_dir,
        overwrite,
        optim.device,
        data=data,
        optim=optim,
        arch=arch,
        weights=weights,
        classifier_checkpoint=classifier_checkpoint,
    )
    checkpoint = pretrain_classifier(classifier, data, optim, out_dir, list(classes.names))
    if not ranks.is_main:
        return {}
    val = build_training_data(replace(data, num_pixel=None)).val
    metrics = evaluate(ImageClassifier(classifier), val, list(classes.names), optim.device)
    result = {"arch": arch, "steps": optim.steps, "checkpoint": str(checkpoint), "val": metrics}
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2))
    print(f"classifier {arch}: val F1 {100 * metrics['f1']:.2f} -> {checkpoint}")
    return result


def train(
    data: DataConfig,
    optim: TrainConfig = TrainConfig(),
    model: str = "unrolled_lrp",
    arch: str = "resnet18",
    classifier_checkpoint: Path | None = None,
    weights: str | None = None,
    model_args: dict | None = None,
    out_dir: Path = Path("runs/train"),
    overwrite: bool = False,
) -> dict:
    """Train a segmentation model from a classifier; resumes an interrupted run in ``out_dir``.

    ``ulrp train --resume RUN_DIR`` continues a run with its saved settings (``RUN_DIR/config.yaml``; only
    ``optim.steps``, ``optim.device``, ``optim.eval_every``, ``optim.log_every`` and ``data.workers`` may be
    overridden) and ends with the same weights as an uninterrupted run; other changed settings are refused.

    Models without a classification branch (unet, fcn) get pixel-labelled batches only, as in the paper.
    The best checkpoint is chosen on the hold-out split; VOC val is only used by ``ulrp eval``.

    Several GPUs: the same command under torchrun, e.g.
    ``torchrun --standalone --nproc_per_node 4 -m unrolled_lrp.cli.main train --config run.yaml --optim.device cuda``.
    Each process takes every 4th image of the global batch (``data.batch_size`` stays the global batch), DDP
    averages the gradients, rank 0 evaluates and writes the run directory; resuming works the same way with
    the same number of processes. Add ``--optim.precision bf16 --optim.channels_last true`` on recent GPUs.

    Args:
        data: dataset, label regime and batch settings.
        optim: optimisation settings.
        model: unrolled_lrp, ws_ae, unet, mt_unet or fcn.
        arch: torchvision classifier architecture of the encoder.
        classifier_checkpoint: pre-trained classifier weights every model starts from.
        weights: "imagenet" to start from torchvision's ImageNet weights (local cache) instead.
        model_args: extra options of the model, e.g. ``{"rule": "epsilon", "heatmap_scale": 1.0}`` for unrolled_lrp.
        out_dir: run directory (config.yaml, regime list, log.csv, last.pt, best.pt, metrics.json).
        overwrite: delete an existing run in ``out_dir`` instead of resuming it.
    """
    classes = data.class_set()
    segmenter = _model(model, arch, classes.num_classes, classifier_checkpoint, weights, model_args)
    if not segmenter.uses_image_labels:
        data = replace(data, pixel_fraction=1.0)
    ranks = _start_run(
        out_dir,
        overwrite,
        optim.device,
        data=data,
        optim=optim,
        model=model,
        arch=arch,
        weights=weights,
        classifier_checkpoint=classifier_checkpoint,
        model_args=model_args,
    )
    training_data = build_training_data(data, regime_dir=out_dir if ranks.is_main else None)
    best = train_loop(segmenter, training_data, optim, out_dir, list(classes.names))
    result = {"model": model, "arch": arch, "parameters": count_parameters(segmenter), "holdout": best}
    if not ranks.is_main:
        return result
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2))
    print(f"{model}: best hold-out mIoU {100 * best['miou']:.2f} at step {best['step']} -> {out_dir}")
    return result


def eval(
    data: DataConfig,
    run_dir: Path,
    device: str = "cpu",
) -> dict:
    """Evaluate the best checkpoint of a run on the dataset's val list at full resolution.

    Writes ``val_metrics.json`` (mIoU, per-class IoU, confusion matrix, pixel accuracy, foreground macro and
    per-class F1) and ``val_metrics.md``, the same as a table, which it also prints.

    Args:
        data: the dataset (``root``, ``classes``) to evaluate on.
        run_dir: a run directory written by ``ulrp train``.
        device: "cpu" or "cuda".
    """
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    classes = data.class_set()
    segmenter = _model(config["model"], config["arch"], classes.num_classes, None, None, config.get("model_args"))
    segmenter.load_state_dict(load(run_dir / "best.pt")["model"])
    segmenter.to(device)
    val = build_training_data(replace(data, num_pixel=None)).val
    metrics = evaluate(segmenter, val, list(classes.names), device)
    (run_dir / "val_metrics.json").write_text(json.dumps(metrics, indent=2))
    table = metrics_table(metrics)
    (run_dir / "val_metrics.md").write_text(table)
    print(table)
    print(
        f"{config['model']} ({run_dir}): val mIoU {100 * metrics['miou']:.2f}"
        + (f", F1 {100 * metrics['f1']:.2f}" if "f1" in metrics else "")
    )
    return metrics


#: The demo's classes: five VOC foreground classes keep the all-class decoder small enough for a CPU.
DEMO_CLASSES = ("background", "aeroplane", "bird", "car", "cat", "person")


def demo(
    out_dir: Path = Path("runs/demo"),
    num_pixel: int = 5,
    pretrain_steps: int = 150,
    steps: int = 200,
    lr: float = 1e-4,
    models: list[str] = ["unrolled_lrp", "unet"],  # noqa: B006 - jsonargparse needs a literal default
    image_size: int = 64,
    seed: int = 0,
) -> dict[str, dict]:
    """The whole method on the bundled synthetic dataset, on CPU in minutes.

    Writes a synthetic VOC-layout dataset, pre-trains a ResNet18 classifier on its image-level labels,
    trains each model from that classifier with ``num_pixel`` pixel-labelled images (plus image-level labels
    for models that use them), evaluates each on the val list, prints a comparison table and writes
    explanation figures of the trained unrolled classifier to ``OUT_DIR/figures``.

    Args:
        out_dir: folder for the dataset, the runs and the figures.
        num_pixel: pixel-labelled training images (5 = one per foreground class).
        pretrain_steps: classifier pre-training iterations (learning rate 1e-3).
        steps: segmentation training iterations per model.
        lr: segmentation learning rate.
        models: models to compare.
        image_size: side of the synthetic images (a multiple of 32).
        seed: seed of the dataset, the regime, the initialisation and the batches.
    """
    torch.set_num_threads(max(1, torch.get_num_threads()))
    root = out_dir / "data"
    if not (root / "VOCdevkit").exists():
        write_synthetic_voc(
            root,
            num_pixel_train=40,
            num_val=30,
            num_image_level=150,
            image_size=image_size,
            seed=seed,
            classes=DEMO_CLASSES,
        )
    data = DataConfig(
        root=root, classes=root / "classes.yaml", num_pixel=num_pixel, crop_size=image_size, batch_size=10, seed=seed
    )
    torch.manual_seed(seed)
    pretrained = pretrain(
        data,
        TrainConfig(steps=pretrain_steps, lr=1e-3, eval_every=pretrain_steps, seed=seed),
        out_dir=out_dir / "pretrain",
    )
    optim = TrainConfig(steps=steps, lr=lr, eval_every=max(1, steps // 4), seed=seed)
    results = {}
    for name in models:
        train(data, optim, model=name, classifier_checkpoint=Path(pretrained["checkpoint"]), out_dir=out_dir / name)
        results[name] = eval(data, out_dir / name)
    if "unrolled_lrp" in models:
        val_images = sorted((root / "VOCdevkit" / "VOC2012" / "JPEGImages").glob("*.jpg"))
        val_ids = (root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
        explain(
            [path for path in val_images if path.stem in val_ids[:3]],
            out_dir=out_dir / "figures",
            checkpoint=out_dir / "unrolled_lrp" / "best.pt",
            classes=root / "classes.yaml",
        )
    print(f"\nclassifier after pre-training: val F1 {100 * pretrained['val']['f1']:.2f}")
    print("| model | val mIoU | val F1 |\n|---|---|---|")
    for name, metrics in results.items():
        f1 = f"{100 * metrics['f1']:.2f}" if "f1" in metrics else "-"
        print(f"| {name} | {100 * metrics['miou']:.2f} | {f1} |")
    return results
