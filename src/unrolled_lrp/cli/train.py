"""``ulrp pretrain`` / ``train`` / ``eval`` / ``demo``: parse the settings, run :mod:`unrolled_lrp.runs`, print."""

from __future__ import annotations

from pathlib import Path

from unrolled_lrp import runs
from unrolled_lrp.cli.explain import print_explanations
from unrolled_lrp.cli.summaries import eval_summary, pretrain_summary, train_summary
from unrolled_lrp.data.options import Device, PositiveFloat, PositiveInt, Seed
from unrolled_lrp.data.pipeline import DataConfig
from unrolled_lrp.experiments.demo import run_demo
from unrolled_lrp.lrp import LRPConfig
from unrolled_lrp.training.trainer import TrainConfig


def pretrain(
    data: DataConfig,
    optim: TrainConfig = TrainConfig(lr=1e-4, steps=1000, eval_every=1000),
    arch: str = "resnet18",
    weights: str | None = None,
    classifier_checkpoint: Path | None = None,
    out_dir: Path = Path("runs/pretrain"),
    overwrite: bool = False,
) -> None:
    """Fine-tune a classifier on the image-level labels of every training image (sigmoid BCE, background
    weight 0) and save ``OUT_DIR/classifier.pt``, the starting point of ``ulrp train --classifier_checkpoint``.

    ``ulrp pretrain --resume RUN_DIR`` continues an interrupted pre-training with its saved settings.
    The classifier F1 on the val list is reported in ``metrics.json`` (Table 2, column "0" of the paper); it
    is never used to select anything. Runs on several GPUs under torchrun like ``ulrp train``.

    Args:
        data: dataset settings (``num_pixel`` and ``pixel_fraction`` are ignored: all labels are image-level).
        optim: optimisation settings; ``optim.seed`` seeds the classifier's initialisation too.
        arch: torchvision classifier architecture.
        weights: "imagenet" to start from torchvision's ImageNet weights (local cache); default random.
        classifier_checkpoint: start from these classifier weights instead.
        out_dir: run directory (config.yaml, log.csv, last.pt, classifier.pt, metrics.json).
        overwrite: delete an existing run in ``out_dir`` instead of resuming it.
    """
    result = runs.pretrain(
        data,
        optim=optim,
        arch=arch,
        weights=weights,
        classifier_checkpoint=classifier_checkpoint,
        out_dir=out_dir,
        overwrite=overwrite,
    )
    if result:
        print(pretrain_summary(result))


def train(
    data: DataConfig,
    optim: TrainConfig = TrainConfig(),
    model: str = "unrolled_lrp",
    arch: str = "resnet18",
    weights: str | None = None,
    classifier_checkpoint: Path | None = None,
    model_args: dict | None = None,
    lrp: LRPConfig = LRPConfig(),
    out_dir: Path = Path("runs/train"),
    overwrite: bool = False,
) -> None:
    """Train a segmentation model from a classifier; resumes an interrupted run in ``out_dir``.

    ``ulrp train --resume RUN_DIR`` continues a run with its saved settings (``RUN_DIR/config.yaml``; the settings
    ``--resume``'s help lists may be overridden, by options after it) and ends with the same weights as an uninterrupted
    run; other changed settings are refused. The same command twice gives bit-identical weights: ``optim.seed`` seeds
    the initialisation of every new parameter, augmentation and dropout, ``data.seed`` the regime and the batch order.

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
        weights: "imagenet" to start from torchvision's ImageNet weights (local cache) instead.
        classifier_checkpoint: pre-trained classifier weights every model starts from.
        model_args: extra options of the model, e.g. ``{"heatmap_scale": 1.0}`` for unrolled_lrp and ws_ae.
        lrp: how unrolled_lrp and ws_ae decode heatmaps (composite, its parameters, decoder weights, ...); zB bounds
            left unset are the range of the data after normalisation. Models without heatmaps ignore it.
        out_dir: run directory (config.yaml, regime list, log.csv, last.pt, best.pt, metrics.json).
        overwrite: delete an existing run in ``out_dir`` instead of resuming it.
    """
    result = runs.train(
        data,
        optim=optim,
        model=model,
        arch=arch,
        weights=weights,
        classifier_checkpoint=classifier_checkpoint,
        model_args=model_args,
        lrp=lrp,
        out_dir=out_dir,
        overwrite=overwrite,
    )
    if result:
        print(train_summary(result, out_dir=out_dir))


def evaluate(data: DataConfig, run_dir: Path, device: Device = "cpu") -> None:
    """Evaluate the best checkpoint of a run on the dataset's val list at full resolution.

    Writes ``val_metrics.json`` (mIoU, per-class IoU, confusion matrix, pixel accuracy, foreground macro and
    per-class F1) and ``val_metrics.md``, the same as a table, which it also prints.

    Args:
        data: the dataset (``root``, ``classes``) to evaluate on.
        run_dir: a run directory written by ``ulrp train``.
        device: "cpu" or "cuda".
    """
    metrics, table = runs.evaluate_run(data, run_dir=run_dir, device=device)
    print(table)
    print(eval_summary(runs.RunDir(run_dir).saved_config()["model"], run_dir=run_dir, metrics=metrics))


def demo(
    out_dir: Path = Path("runs/demo"),
    num_pixel: PositiveInt = 5,
    pretrain_steps: PositiveInt = 150,
    steps: PositiveInt = 200,
    lr: PositiveFloat = 1e-4,
    models: list[str] = ["unrolled_lrp", "unet"],  # noqa: B006 - jsonargparse needs a literal default
    image_size: PositiveInt = 64,
    seed: Seed = 0,
) -> None:
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
    result = run_demo(
        out_dir,
        num_pixel=num_pixel,
        pretrain_steps=pretrain_steps,
        steps=steps,
        lr=lr,
        models=models,
        image_size=image_size,
        seed=seed,
    )
    print(pretrain_summary(result.pretrained))
    for name, run_dir in result.run_dirs.items():
        print(train_summary(result.trained[name], out_dir=run_dir))
        print(result.tables[name])
        print(eval_summary(name, run_dir=run_dir, metrics=result.val[name]))
    print_explanations(result.figures)
    print(f"\nclassifier after pre-training: val F1 {100 * result.pretrained['val']['f1']:.2f}")
    print("| model | val mIoU | val F1 |\n|---|---|---|")
    for name, metrics in result.val.items():
        f1 = f"{100 * metrics['f1']:.2f}" if "f1" in metrics else "-"
        print(f"| {name} | {100 * metrics['miou']:.2f} | {f1} |")
