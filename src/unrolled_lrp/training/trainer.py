"""The training loop shared by every model: mixed batches, both losses, hold-out selection, exact resume."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from unrolled_lrp.data.datasets import Batch, collate
from unrolled_lrp.data.pipeline import TrainingData
from unrolled_lrp.evaluation.evaluate import evaluate
from unrolled_lrp.models import SegmentationModel

from .checkpoint import load, save_atomic
from .distributed import Distributed, setup
from .losses import combined_loss
from .precision import Precision, autocast, check_precision, memory_format
from .snapshots import maybe_snapshot


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (paper: AdamW, lr 1e-5, batch 10, loss weights 1 and 1).

    Args:
        steps: Training iterations.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        seg_weight: Weight of the segmentation cross-entropy.
        cls_weight: Weight of the classification BCE (models with a classification branch).
        eval_every: Evaluate on the hold-out split (model selection) every this many steps.
        log_every: Append the losses to ``log.csv`` every this many steps (under torchrun: rank 0's share).
        seed: Seed of augmentation and dropout; with it each step's randomness depends only on the step.
        device: "cpu" or "cuda" (under torchrun: each process's GPU ``LOCAL_RANK``).
        precision: "fp32", or "bf16" for bfloat16 autocast of forward pass, loss and evaluation.
        channels_last: Keep the model and the batches in NHWC memory layout (faster convolutions on GPU).
        snapshot_every: Save predictions on the first val images every this many steps and at step 0
            (``run_dir/snapshots``, for Figures 2 and 3); 0 = off.
        snapshot_images: How many val images a snapshot holds.
    """

    steps: int = 1000
    lr: float = 1e-5
    weight_decay: float = 0.01
    seg_weight: float = 1.0
    cls_weight: float = 1.0
    eval_every: int = 100
    log_every: int = 10
    seed: int = 0
    device: str = "cpu"
    precision: Precision = "fp32"
    channels_last: bool = False
    snapshot_every: int = 0
    snapshot_images: int = 4

    def __post_init__(self) -> None:
        check_precision(self.precision)


def _batch(data: TrainingData, step: int, seed: int, ranks: Distributed) -> Batch:
    """This rank's share of batch ``step``, augmented with randomness that depends only on (seed, step, rank):
    resumable exactly with the same number of processes."""
    torch.manual_seed((seed * 1_000_003 + step) * ranks.world_size + ranks.rank)
    return collate([data.train[i] for i in ranks.share(data.sampler.batch(step))])


def _loss(
    network: torch.nn.Module,
    uses_image_labels: bool,
    batch: Batch,
    config: TrainConfig,
    device: torch.device,
    has_background: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward pass and loss of one batch; pixel-labelled images are decoded only for mixed-batch models."""
    seg_mask = batch.has_mask.to(device) if uses_image_labels else None
    output = network(batch.image.to(device, memory_format=memory_format(config.channels_last)), seg_mask=seg_mask)
    masks = batch.mask[batch.has_mask] if uses_image_labels else batch.mask
    labels = batch.labels.to(device)
    return combined_loss(output, masks.to(device), labels, config.seg_weight, config.cls_weight, has_background)


def _append_log(run_dir: Path, row: list[Any]) -> None:
    with (run_dir / "log.csv").open("a", newline="") as log:
        csv.writer(log).writerow(row)


def _truncate_log(run_dir: Path, step: int) -> None:
    """Drop the log rows written after the checkpoint a run resumes from: they are about to be redone."""
    log = run_dir / "log.csv"
    if log.exists():
        with log.open(newline="") as file:
            rows = [row for row in csv.reader(file) if row and int(row[0]) <= step]
        with log.open("w", newline="") as file:
            csv.writer(file).writerows(rows)


def _improves(metrics: dict, best: dict | None) -> bool:
    """Hold-out mIoU decides; without a hold-out split (classifier pre-training) the latest model is kept."""
    return best is None or "miou" not in metrics or metrics["miou"] > best["miou"]


def train(
    model: SegmentationModel, data: TrainingData, config: TrainConfig, run_dir: Path, class_names: list[str]
) -> dict:
    """Train ``model``; keep ``last.pt`` (full state, for ``resume``) and ``best.pt`` (best hold-out mIoU,
    or the latest model when the hold-out split is empty).

    Resumes from ``run_dir/last.pt`` when it exists and ends with the same weights as an uninterrupted run.
    Under ``torchrun`` each process trains on its share of every batch (see :mod:`.distributed`) and rank 0
    evaluates and writes the files. Returns the best hold-out metrics (on every rank).
    """
    ranks = setup(config.device)
    ranks.check_batch_size(len(data.sampler.batch(0)))
    device = ranks.device
    run_dir.mkdir(parents=True, exist_ok=True)
    model.to(device, memory_format=memory_format(config.channels_last)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = {"step": 0, "best": None}
    last = run_dir / "last.pt"
    if last.exists():
        saved = load(last, map_location=device)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = {"step": saved["step"], "best": json.loads(saved["best"])}
    if ranks.is_main:
        _truncate_log(run_dir, state["step"])
    network = ranks.wrap(model)
    progress = tqdm(
        range(state["step"], config.steps),
        initial=state["step"],
        total=config.steps,
        desc="train",
        disable=not ranks.is_main,
    )
    first, start = state["step"], time.perf_counter()
    for step in progress:
        if ranks.is_main:
            maybe_snapshot(model, data.val, step, run_dir, config.snapshot_every, config.snapshot_images)
        batch = _batch(data, step, config.seed, ranks)
        with autocast(device, config.precision):
            loss, parts = _loss(
                network, model.uses_image_labels, batch, config, device, data.train.classes.has_background
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done = step + 1
        rate = (done - first) * len(batch.ids) * ranks.world_size / (time.perf_counter() - start)
        progress.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{rate:.1f}")
        if done % config.log_every == 0 and ranks.is_main:
            _append_log(run_dir, [done, loss.item(), parts.get("seg_loss", ""), parts.get("cls_loss", "")])
        if done % config.eval_every == 0 or done == config.steps:
            if ranks.is_main:
                with autocast(device, config.precision):
                    metrics = evaluate(model, data.holdout, class_names, device) if len(data.holdout) else {}
                if _improves(metrics, state["best"]):
                    state["best"] = {"step": done, **metrics}
                    save_atomic({"model": model.state_dict(), "step": done}, run_dir / "best.pt")
                save_atomic(
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "step": done,
                        "config": json.dumps(asdict(config)),
                        "best": json.dumps(state["best"]),
                    },
                    last,
                )
            ranks.barrier()  # the others wait for the evaluation and the checkpoint
    if ranks.is_main:
        maybe_snapshot(model, data.val, config.steps, run_dir, config.snapshot_every, config.snapshot_images)
    return ranks.broadcast(state["best"])
