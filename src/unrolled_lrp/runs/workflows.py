"""The workflows that fill a run directory: pre-train a classifier, train a segmentation model, evaluate it.

Every function takes its first argument positionally and the rest by keyword, with the same names in the same order
as the ``ulrp`` commands: ``data, optim, model, arch, weights, classifier_checkpoint, model_args, lrp, out_dir,
overwrite``. A model that decodes LRP heatmaps takes the run's :class:`~unrolled_lrp.lrp.LRPConfig` whole; its zB
bounds, when unset, are the range of the run's data after normalisation (``DataConfig.input_range``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from unrolled_lrp.data.check import require_valid_dataset
from unrolled_lrp.data.datasets import SegmentationDataset
from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.data.voc import load_voc
from unrolled_lrp.evaluation import metrics_table
from unrolled_lrp.evaluation.evaluate import evaluate
from unrolled_lrp.lrp import LRPConfig
from unrolled_lrp.models import (
    SegmentationModel,
    UnrolledSegmenter,
    build_classifier,
    build_model,
    classifier_stride,
    count_parameters,
    list_models,
    takes_lrp,
)
from unrolled_lrp.training.checkpoint import load
from unrolled_lrp.training.distributed import Distributed, setup
from unrolled_lrp.training.pretrain import ImageClassifier, pretrain_classifier
from unrolled_lrp.training.trainer import TrainConfig
from unrolled_lrp.training.trainer import train as train_loop

from .rundir import RunDir, plain_config, setting_defaults


def _write_json(path: Path, result: dict) -> dict:
    path.write_text(json.dumps(result, indent=2))
    return result


def _processes(optim: TrainConfig) -> int:
    """How many processes share each batch: those of the torchrun job, if there is one."""
    return setup(optim.device).world_size


@contextmanager
def _started(run: RunDir, *, overwrite: bool, device: str, **config: Any) -> Iterator[Distributed]:
    """Join the torchrun job if there is one; rank 0 locks the run directory for the whole block (a second process
    is refused, see :meth:`RunDir.lock`) and prepares it while the other ranks wait."""
    ranks = setup(device)
    with run.lock() if ranks.is_main else nullcontext():
        if ranks.is_main:
            run.prepare(plain_config(**config), overwrite=overwrite, defaults=setting_defaults(**config))
        ranks.barrier()
        yield ranks


def check_model_args(model_args: dict) -> None:
    """Refuse LRP options among the untyped model options: they are the typed ``lrp`` group's."""
    misplaced = sorted(set(model_args) & {field.name for field in fields(LRPConfig)})
    if misplaced:
        options = ", ".join(f"--lrp.{name}" for name in misplaced)
        raise ValueError(f"model_args {model_args}: {', '.join(misplaced)} are LRP options; set them with {options}")


def build_segmenter(
    model: str,
    *,
    arch: str,
    num_classes: int,
    weights: str | None = None,
    classifier_checkpoint: Path | None = None,
    model_args: dict | None = None,
    lrp: LRPConfig | None = None,
) -> SegmentationModel:
    """Segmentation model ``model`` on a fresh ``arch`` classifier, with ``lrp`` (default ``LRPConfig()``) if it
    decodes heatmaps; unknown names are a ValueError listing the known."""
    if model not in list_models():
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(list_models())}")
    options = dict(model_args or {})
    check_model_args(options)
    if takes_lrp(model):
        options["lrp"] = lrp or LRPConfig()
    classifier = build_classifier(arch, num_classes, weights=weights, checkpoint=classifier_checkpoint)
    try:
        return build_model(model, classifier, num_classes, **options)
    except TypeError as error:  # an option the model's builder does not take
        raise ValueError(f"model_args {model_args} do not fit model {model!r}: {error}") from None


def _initialise_untied_decoder(segmenter: SegmentationModel, *, arch: str, num_classes: int) -> None:
    """``untied_init="backbone"``: the untied decoder starts from ``arch``'s ImageNet weights and a fresh class
    bottleneck (seeded like every new parameter), the state of the authors' released code; "classifier" keeps the
    copy of the classifier the model was built with. A resumed run then loads its own decoder over it."""
    if not isinstance(segmenter, UnrolledSegmenter):
        return
    lrp = segmenter.unrolled.config
    if lrp.decoder_weights == "untied" and lrp.untied_init == "backbone":
        segmenter.unrolled.load_decoder(build_classifier(arch, num_classes, weights="imagenet"))


def _recorded_lrp(model: str, lrp: LRPConfig | None) -> dict[str, LRPConfig]:
    """The LRP options a run of ``model`` records: ``lrp`` (default ``LRPConfig()``) if it decodes heatmaps, else
    none at all (no key: ``--resume`` then gives the command's default back, which a model without heatmaps
    ignores), so that they neither clutter nor block the resume of a model without heatmaps."""
    return {"lrp": lrp or LRPConfig()} if takes_lrp(model) else {}


def _resolved(lrp: LRPConfig, data: DataConfig) -> LRPConfig:
    """``lrp`` with unset zB bounds filled from the run's data normalisation."""
    return lrp.with_input_range(*data.input_range())


def val_set(data: DataConfig) -> SegmentationDataset:
    """The dataset's val list at full resolution, without building training data (no regime, no sampler)."""
    classes = data.class_set()
    require_valid_dataset(data.root, classes, use_aug=data.use_aug, mask_folder=data.mask_folder)
    pools = load_voc(data.root, classes, use_aug=data.use_aug, mask_folder=data.mask_folder)
    return SegmentationDataset(pools.val, classes, data.evaluation_transform())


def pretrain(
    data: DataConfig,
    *,
    optim: TrainConfig,
    arch: str = "resnet18",
    weights: str | None = None,
    classifier_checkpoint: Path | None = None,
    out_dir: Path,
    overwrite: bool = False,
) -> dict:
    """Fine-tune a classifier on every training image's image-level labels, save ``classifier.pt`` and write its
    val F1 to ``metrics.json`` (returned; empty on ranks other than 0). ``optim.seed`` seeds the initialisation."""
    run = RunDir.pretraining(out_dir)
    classes = data.class_set()
    torch.manual_seed(optim.seed)
    classifier = build_classifier(arch, classes.num_classes, weights=weights, checkpoint=classifier_checkpoint)
    data.check_crop_size(classifier_stride(classifier), f"the {arch} classifier", processes=_processes(optim))
    settings = {"arch": arch, "weights": weights, "classifier_checkpoint": classifier_checkpoint}
    with _started(run, overwrite=overwrite, device=optim.device, data=data, optim=optim, **settings) as ranks:
        checkpoint = pretrain_classifier(classifier, data=data, optim=optim, run=run, class_names=list(classes.names))
        if not ranks.is_main:
            return {}
        metrics = evaluate(ImageClassifier(classifier), val_set(data), list(classes.names), optim.device)
        result = {"arch": arch, "steps": optim.steps, "checkpoint": str(checkpoint), "val": metrics}
        return _write_json(run.metrics, result)


def train(
    data: DataConfig,
    *,
    optim: TrainConfig,
    model: str = "unrolled_lrp",
    arch: str = "resnet18",
    weights: str | None = None,
    classifier_checkpoint: Path | None = None,
    model_args: dict | None = None,
    lrp: LRPConfig | None = None,
    out_dir: Path,
    overwrite: bool = False,
) -> dict:
    """Train segmentation model ``model`` into ``out_dir`` (resuming a run there) and write ``metrics.json``
    (returned; empty on ranks other than 0): best hold-out metrics and parameter count. ``optim.seed`` seeds
    the initialisation of every new parameter (the classifier without a checkpoint, the decoders), augmentation
    and dropout."""
    run = RunDir(out_dir)
    classes = data.class_set()
    torch.manual_seed(optim.seed)
    segmenter = build_segmenter(
        model,
        arch=arch,
        num_classes=classes.num_classes,
        weights=weights,
        classifier_checkpoint=classifier_checkpoint,
        model_args=model_args,
        lrp=_resolved(lrp or LRPConfig(), data),
    )
    data.check_crop_size(segmenter.stride, f"{model} on {arch}", processes=_processes(optim))
    _initialise_untied_decoder(segmenter, arch=arch, num_classes=classes.num_classes)
    if not segmenter.uses_image_labels:
        data = replace(data, pixel_fraction=1.0)
    settings: dict[str, Any] = {"model": model, "arch": arch, "weights": weights}
    settings |= {"classifier_checkpoint": classifier_checkpoint, "model_args": model_args} | _recorded_lrp(model, lrp)
    with _started(run, overwrite=overwrite, device=optim.device, data=data, optim=optim, **settings) as ranks:
        training_data = build_training_data(data, regime_dir=run.path if ranks.is_main else None)
        best = train_loop(segmenter, data=training_data, optim=optim, run=run, class_names=list(classes.names))
        if not ranks.is_main:
            return {}
        result = {"model": model, "arch": arch, "parameters": count_parameters(segmenter), "holdout": best}
        return _write_json(run.metrics, result)


def evaluate_run(data: DataConfig, *, run_dir: Path, device: str = "cpu") -> tuple[dict, str]:
    """Evaluate ``best.pt`` of a training run on the val list at full resolution; write ``val_metrics.json`` and
    ``val_metrics.md``. Returns the metrics and the table."""
    run = RunDir(run_dir)
    config = run.saved_config()
    with run.lock():  # after the check that it is a run directory: no lock file left in any other folder
        classes = data.class_set()
        segmenter = build_segmenter(
            config["model"],
            arch=config["arch"],
            num_classes=classes.num_classes,
            model_args=config.get("model_args"),
            lrp=_resolved(LRPConfig(**config.get("lrp") or {}), data),
        )
        state = load(run.best)
        try:
            segmenter.load_state_dict(state["model"])
        except (KeyError, RuntimeError) as error:
            raise ValueError(
                f"{run.best} does not hold the weights of a {config['arch']} {config['model']} with "
                f"{classes.num_classes} classes (is --data.classes the run's class file?): {error}"
            ) from None
        metrics = evaluate(segmenter.to(device), val_set(data), list(classes.names), device)
        table = metrics_table(metrics)
        run.val_table.write_text(table)
        return _write_json(run.val_metrics, metrics), table
