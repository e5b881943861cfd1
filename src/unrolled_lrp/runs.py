"""Runs: the run directory (its files, status, saved settings and resume check), the grid's run keys, and the
workflows that fill a run directory: pre-train a classifier, train a segmentation model, evaluate it.

Layer: below ``experiments`` and ``cli`` (which parse, loop and print), above ``training``, ``evaluation``,
``data`` and ``models``. A run directory holds::

    config.yaml        the resolved settings (``ulrp train --resume RUN_DIR`` reads them back)
    log.csv            step, loss, seg_loss, cls_loss (rows past the checkpoint are dropped on resume)
    last.pt            full training state (model, optimizer, step) to resume from
    best.pt            the model with the best hold-out mIoU (segmentation runs)
    classifier.pt      the pre-trained classifier (pre-training runs)
    metrics.json       the run's result: hold-out metrics (training) or classifier val F1 (pre-training)
    val_metrics.json   val metrics of best.pt (``ulrp eval``); val_metrics.md the same as a table
    pixel_{N}_seed{S}.txt  the regime's pixel-labelled image ids
    snapshots/         predictions over training (``optim.snapshot_every``)
    tensorboard/       TensorBoard event files of the losses, learning rate, pace and hold-out mIoU
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from unrolled_lrp.data.check import require_valid_dataset
from unrolled_lrp.data.datasets import SegmentationDataset
from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.data.transforms import eval_transform
from unrolled_lrp.data.voc import load_voc
from unrolled_lrp.evaluation import metrics_table
from unrolled_lrp.evaluation.evaluate import evaluate
from unrolled_lrp.models import (
    SegmentationModel,
    build_classifier,
    build_model,
    classifier_stride,
    count_parameters,
    list_models,
)
from unrolled_lrp.training.checkpoint import load
from unrolled_lrp.training.distributed import Distributed, setup
from unrolled_lrp.training.pretrain import ImageClassifier, pretrain_classifier
from unrolled_lrp.training.trainer import TrainConfig
from unrolled_lrp.training.trainer import train as train_loop

#: Settings a resumed run may change: how long it runs, where and how fast, not what it computes.
#: The one list of them: add a setting here when changing it mid-run leaves the result unchanged.
RESUMABLE_CHANGES = frozenset({"optim.steps", "optim.device", "optim.eval_every", "optim.log_every", "data.workers"})

Status = Literal["finished", "partial", "todo"]


@dataclass(frozen=True)
class RunDir:
    """A run directory and the names of its files (see the module docstring): the one place that names them. It is
    the :class:`~unrolled_lrp.training.runfiles.RunFiles` the trainer and the pre-trainer write to.

    A run is finished when its ``result`` file exists: ``val_metrics.json`` for a segmentation run (trained and
    evaluated); :meth:`pretraining` runs finish with ``metrics.json``.
    """

    path: Path
    result: str = "val_metrics.json"

    @classmethod
    def pretraining(cls, path: Path) -> RunDir:
        """A pre-training run directory: finished once the classifier's val F1 is written."""
        return cls(Path(path), result="metrics.json")

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    @property
    def log(self) -> Path:
        return self.path / "log.csv"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def snapshots(self) -> Path:
        return self.path / "snapshots"

    @property
    def classifier(self) -> Path:
        return self.path / "classifier.pt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def val_metrics(self) -> Path:
        return self.path / "val_metrics.json"

    @property
    def val_table(self) -> Path:
        return self.path / "val_metrics.md"

    @property
    def status(self) -> Status:
        """finished (result written), partial (``last.pt`` to resume from) or todo."""
        if (self.path / self.result).exists():
            return "finished"
        return "partial" if self.last.exists() else "todo"

    def saved_config(self) -> dict[str, Any]:
        """The settings the run was started with; a clear error when this is not a run directory."""
        if not self.config.is_file():
            raise FileNotFoundError(f"{self.path}: no config.yaml there; is it a run directory written by ulrp?")
        return yaml.safe_load(self.config.read_text()) or {}

    def check_resumable(self, config: dict[str, Any]) -> None:
        """Refuse to resume with settings that change what the run computes: the result would match neither."""
        if not self.config.exists():
            return
        saved, new = _flatten(self.saved_config()), _flatten(config)
        changed = sorted(
            k for k in saved.keys() | new.keys() if saved.get(k) != new.get(k) and k not in RESUMABLE_CHANGES
        )
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in changed)
            raise ValueError(
                f"{self.path} holds a run with other settings ({details}); resume it with its own "
                f"settings (--resume {self.path}), pass --overwrite true to start it anew, or choose another --out_dir"
            )

    def prepare(self, config: dict[str, Any], overwrite: bool) -> None:
        """Resume the run here (same settings) or start it afresh (``overwrite``, or nothing to resume); then
        save ``config``."""
        if self.last.exists() or self.metrics.exists():
            if overwrite:
                shutil.rmtree(self.path)
            else:
                self.check_resumable(config)
                print(f"resuming the run in {self.path} (pass --overwrite true to start it anew)")
        self.path.mkdir(parents=True, exist_ok=True)
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))


@dataclass(frozen=True, order=True)
class RunKey:
    """Where a run sits in a grid: ``RUN_ROOT/{encoder}/n{num_pixel}/seed{seed}/{model}``."""

    encoder: str
    num_pixel: int
    seed: int
    model: str

    def path(self, run_root: Path) -> Path:
        return run_root / self.encoder / f"n{self.num_pixel}" / f"seed{self.seed}" / self.model

    @classmethod
    def parse(cls, run_root: Path, path: Path) -> RunKey:
        """The key of a run directory under ``run_root``; ValueError if ``path`` is not laid out as one."""
        parts = Path(path).relative_to(run_root).parts
        if len(parts) != 4 or not parts[1].startswith("n") or not parts[2].startswith("seed"):
            raise ValueError(f"{path} is not a run directory RUN_ROOT/ENCODER/nN/seedS/MODEL of {run_root}")
        encoder, regime, seed, model = parts
        try:
            return cls(encoder, int(regime.removeprefix("n")), int(seed.removeprefix("seed")), model)
        except ValueError:
            raise ValueError(f"{path}: N and S of nN/seedS must be integers") from None

    @classmethod
    def find(cls, run_root: Path) -> list[RunKey]:
        """The keys of every run directory under ``run_root``, sorted."""
        keys = []
        for path in run_root.glob("*/n*/seed*/*"):
            try:
                keys.append(cls.parse(run_root, path))
            except ValueError:
                continue  # a folder of another layout (a report, a dataset) is no run
        return sorted(keys)


def pretraining_dir(run_root: Path, encoder: str) -> RunDir:
    """The grid's pre-training run of ``encoder``: ``RUN_ROOT/{encoder}/pretrain``."""
    return RunDir.pretraining(run_root / encoder / "pretrain")


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def plain_config(**values: Any) -> dict[str, Any]:
    """The resolved configuration of a run as plain YAML-able values (paths and other objects as strings)."""
    return json.loads(
        json.dumps({k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in values.items()}, default=str)
    )


def _write_json(path: Path, result: dict) -> dict:
    path.write_text(json.dumps(result, indent=2))
    return result


def _processes(optim: TrainConfig) -> int:
    """How many processes share each batch: those of the torchrun job, if there is one."""
    return setup(optim.device).world_size


def _start(run: RunDir, overwrite: bool, device: str, **config: Any) -> Distributed:
    """Join the torchrun job if there is one; rank 0 prepares the run directory while the other ranks wait."""
    ranks = setup(device)
    if ranks.is_main:
        run.prepare(plain_config(**config), overwrite)
    ranks.barrier()
    return ranks


def build_segmenter(
    name: str,
    arch: str,
    num_classes: int,
    classifier_checkpoint: Path | None = None,
    weights: str | None = None,
    model_args: dict | None = None,
) -> SegmentationModel:
    """Segmentation model ``name`` on a fresh ``arch`` classifier; unknown names are a ValueError listing the known."""
    if name not in list_models():
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(list_models())}")
    classifier = build_classifier(arch, num_classes, weights=weights, checkpoint=classifier_checkpoint)
    try:
        return build_model(name, classifier, num_classes, **(model_args or {}))
    except TypeError as error:  # an option the model's builder does not take
        raise ValueError(f"model_args {model_args} do not fit model {name!r}: {error}") from None


def val_set(data: DataConfig) -> SegmentationDataset:
    """The dataset's val list at full resolution, without building training data (no regime, no sampler)."""
    classes = data.class_set()
    require_valid_dataset(data.root, classes, use_aug=data.use_aug, mask_folder=data.mask_folder)
    val = load_voc(data.root, classes, use_aug=data.use_aug, mask_folder=data.mask_folder).val
    return SegmentationDataset(val, classes, eval_transform())


def pretrain(
    data: DataConfig,
    optim: TrainConfig,
    out_dir: Path,
    arch: str = "resnet18",
    weights: str | None = None,
    classifier_checkpoint: Path | None = None,
    overwrite: bool = False,
) -> dict:
    """Fine-tune a classifier on every training image's image-level labels, save ``classifier.pt`` and write its
    val F1 to ``metrics.json`` (returned; empty on ranks other than 0). ``optim.seed`` seeds the initialisation."""
    run = RunDir.pretraining(out_dir)
    classes = data.class_set()
    torch.manual_seed(optim.seed)
    classifier = build_classifier(arch, classes.num_classes, weights=weights, checkpoint=classifier_checkpoint)
    data.check_crop_size(classifier_stride(classifier), f"the {arch} classifier", processes=_processes(optim))
    config = {"weights": weights, "classifier_checkpoint": classifier_checkpoint}
    ranks = _start(run, overwrite, optim.device, data=data, optim=optim, arch=arch, **config)
    checkpoint = pretrain_classifier(classifier, data, optim, run, list(classes.names))
    if not ranks.is_main:
        return {}
    metrics = evaluate(ImageClassifier(classifier), val_set(data), list(classes.names), optim.device)
    return _write_json(run.metrics, {"arch": arch, "steps": optim.steps, "checkpoint": str(checkpoint), "val": metrics})


def train(
    data: DataConfig,
    optim: TrainConfig,
    out_dir: Path,
    model: str = "unrolled_lrp",
    arch: str = "resnet18",
    classifier_checkpoint: Path | None = None,
    weights: str | None = None,
    model_args: dict | None = None,
    overwrite: bool = False,
) -> dict:
    """Train segmentation model ``model`` into ``out_dir`` (resuming a run there) and write ``metrics.json``
    (returned; empty on ranks other than 0): best hold-out metrics and parameter count. ``optim.seed`` seeds
    the initialisation of every new parameter (the classifier without a checkpoint, the decoders), augmentation
    and dropout."""
    run = RunDir(out_dir)
    classes = data.class_set()
    torch.manual_seed(optim.seed)
    segmenter = build_segmenter(model, arch, classes.num_classes, classifier_checkpoint, weights, model_args)
    data.check_crop_size(segmenter.stride, f"{model} on {arch}", processes=_processes(optim))
    if not segmenter.uses_image_labels:
        data = replace(data, pixel_fraction=1.0)
    config = {"model": model, "arch": arch, "weights": weights, "classifier_checkpoint": classifier_checkpoint}
    ranks = _start(run, overwrite, optim.device, data=data, optim=optim, **config, model_args=model_args)
    training_data = build_training_data(data, regime_dir=run.path if ranks.is_main else None)
    best = train_loop(segmenter, training_data, optim, run, list(classes.names))
    if not ranks.is_main:
        return {}
    result = {"model": model, "arch": arch, "parameters": count_parameters(segmenter), "holdout": best}
    return _write_json(run.metrics, result)


def evaluate_run(data: DataConfig, run_dir: Path, device: str = "cpu") -> tuple[dict, str]:
    """Evaluate ``best.pt`` of a training run on the val list at full resolution; write ``val_metrics.json`` and
    ``val_metrics.md``. Returns the metrics and the table."""
    run = RunDir(run_dir)
    config = run.saved_config()
    classes = data.class_set()
    segmenter = build_segmenter(
        config["model"], config["arch"], classes.num_classes, None, None, config.get("model_args")
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


def pretrain_summary(result: dict) -> str:
    """One line on a finished pre-training run."""
    return f"classifier {result['arch']}: val F1 {100 * result['val']['f1']:.2f} -> {result['checkpoint']}"


def train_summary(result: dict, out_dir: Path) -> str:
    """One line on a finished training run."""
    best = result["holdout"]
    return f"{result['model']}: best hold-out mIoU {100 * best['miou']:.2f} at step {best['step']} -> {out_dir}"


def eval_summary(model: str, run_dir: Path, metrics: dict) -> str:
    """One line on an evaluated run."""
    f1 = f", F1 {100 * metrics['f1']:.2f}" if "f1" in metrics else ""
    return f"{model} ({run_dir}): val mIoU {100 * metrics['miou']:.2f}{f1}"
