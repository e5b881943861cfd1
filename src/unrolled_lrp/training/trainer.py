"""The training loop shared by every model: mixed batches, both losses, hold-out selection, exact resume."""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from unrolled_lrp.data.datasets import Batch
from unrolled_lrp.data.options import (
    Device,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Seed,
    check_ranges,
)
from unrolled_lrp.data.pipeline import TrainingData, step_seed, training_batches
from unrolled_lrp.evaluation.evaluate import evaluate
from unrolled_lrp.models import SegmentationModel, SegmentationOutput

from .checkpoint import load, save_atomic
from .distributed import Distributed, setup
from .losses import combined_loss
from .precision import Precision, autocast, check_precision, memory_format
from .runfiles import RunFiles
from .runlog import Pace, RunLog
from .safety import Preempted, TrainingDiverged, check_finite, stop_requests
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
            (``RunFiles.snapshots``, for Figures 2 and 3); 0 = off.
        snapshot_images: How many val images a snapshot holds.
        compile: ``torch.compile`` the model for the training steps (forward and backward in one graph each);
            evaluation stays eager. Pays off on long GPU runs; the first step waits for the compilation.
        grad_clip: Clip the global gradient norm to this value; None: no clipping. Either way a non-finite
            loss or gradient norm stops the run before the update.
    """

    steps: PositiveInt = 1000
    lr: PositiveFloat = 1e-5
    weight_decay: NonNegativeFloat = 0.01
    seg_weight: NonNegativeFloat = 1.0
    cls_weight: NonNegativeFloat = 1.0
    eval_every: PositiveInt = 100
    log_every: PositiveInt = 10
    seed: Seed = 0
    device: Device = "cpu"
    precision: Precision = "fp32"
    channels_last: bool = False
    snapshot_every: NonNegativeInt = 0
    snapshot_images: PositiveInt = 4
    compile: bool = False
    grad_clip: PositiveFloat | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "optim")
        check_precision(self.precision)
        if not self.seg_weight + self.cls_weight > 0:
            raise ValueError("optim.seg_weight and optim.cls_weight are both 0: there would be no loss to train on")


#: What the training steps call: the model, or the model behind DDP and/or ``torch.compile``.
Network = Callable[..., SegmentationOutput]


@dataclass
class _Progress:
    """Where a run stands: steps done and the best hold-out metrics so far (with their step)."""

    step: int = 0
    best: dict | None = None


def _loss(
    network: Network,
    uses_image_labels: bool,
    batch: Batch,
    optim: TrainConfig,
    device: torch.device,
    has_background: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward pass and loss of one batch; only the pixel-labelled images (the first ones) are decoded for
    mixed-batch models."""
    seg_mask = batch.pixel_labelled() if uses_image_labels else None
    image = batch.image.to(device, memory_format=memory_format(optim.channels_last), non_blocking=True)
    output = network(image, seg_mask=seg_mask)
    masks = batch.mask[:seg_mask] if uses_image_labels else batch.mask
    labels = batch.labels.to(device, non_blocking=True)
    return combined_loss(
        output, masks.to(device, non_blocking=True), labels, optim.seg_weight, optim.cls_weight, has_background
    )


def _improves(metrics: dict, best: dict | None) -> bool:
    """Hold-out mIoU decides; without a hold-out split (classifier pre-training) the latest model is kept."""
    return best is None or "miou" not in metrics or metrics["miou"] > best["miou"]


def _resume(model: SegmentationModel, optimizer: torch.optim.Optimizer, last: Path, device: torch.device) -> _Progress:
    """Load ``last`` (model, optimizer, step, best metrics) when an earlier run left it; else start at step 0."""
    if not last.exists():
        return _Progress()
    saved = load(last, map_location=device)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    return _Progress(saved["step"], json.loads(saved["best"]))


def _network(model: SegmentationModel, ranks: Distributed, compile_model: bool) -> Network:
    """The module the steps call: behind DDP with several processes, compiled on request."""
    network = ranks.wrap(model)
    return torch.compile(network) if compile_model else network


def _step(
    network: Network,
    model: SegmentationModel,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    has_background: bool,
    optim: TrainConfig,
    ranks: Distributed,
    step: int,
    last: Path,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One optimisation step; dropout is seeded by (seed, step, rank), so resuming at any step is exact.

    A non-finite loss or gradient norm raises :class:`TrainingDiverged` before the optimizer touches the weights.
    """
    torch.manual_seed(step_seed(optim.seed, step, ranks.rank, ranks.world_size, stream=1))
    with autocast(ranks.device, optim.precision):
        loss, parts = _loss(network, model.uses_image_labels, batch, optim, ranks.device, has_background)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip or math.inf)
    check_finite(step + 1, loss, grad_norm, last)
    optimizer.step()
    return loss, parts


def _save_last(
    model: SegmentationModel, optimizer: torch.optim.Optimizer, optim: TrainConfig, progress: _Progress, last: Path
) -> None:
    """The full training state, written atomically; refuses non-finite weights so the last good one stays."""
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise TrainingDiverged(f"step {progress.step}: the weights are not finite; {last} is kept as it was")
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": progress.step,
        "config": json.dumps(asdict(optim)),
        "best": json.dumps(progress.best),
    }
    save_atomic(state, last)


def _evaluate_and_checkpoint(
    model: SegmentationModel,
    optimizer: torch.optim.Optimizer,
    data: TrainingData,
    optim: TrainConfig,
    progress: _Progress,
    run: RunFiles,
    class_names: list[str],
    log: RunLog,
) -> None:
    """Evaluate on the hold-out split, keep ``run.best`` if it improves, write ``run.last`` (main process only)."""
    device = next(model.parameters()).device
    with autocast(device, optim.precision):
        metrics = evaluate(model, data.holdout, class_names, device) if len(data.holdout) else {}
    log.holdout(progress.step, metrics)
    if _improves(metrics, progress.best):
        progress.best = {"step": progress.step, **metrics}
        save_atomic({"model": model.state_dict(), "step": progress.step}, run.best)
    _save_last(model, optimizer, optim, progress, run.last)


def train(
    model: SegmentationModel, *, data: TrainingData, optim: TrainConfig, run: RunFiles, class_names: list[str]
) -> dict:
    """Train ``model``; keep ``run.last`` (full state, for ``resume``) and ``run.best`` (best hold-out mIoU,
    or the latest model when the hold-out split is empty), log to ``run.log`` and ``run.tensorboard``.

    Resumes from ``run.last`` when it exists and ends with the same weights as an uninterrupted run,
    whatever the number of data workers. SIGTERM or SIGINT writes ``run.last`` at the end of the current step
    and raises :class:`Preempted`; a non-finite loss or gradient raises :class:`TrainingDiverged` and leaves
    the last good ``run.last``. Under ``torchrun`` each process trains on its share of every batch (see
    :mod:`.distributed`) and rank 0 evaluates and writes the files. Returns the best hold-out metrics (on every rank).
    """
    ranks = setup(optim.device)
    ranks.check_batch_size(len(data.sampler.batch(0)))
    run.path.mkdir(parents=True, exist_ok=True)
    model.to(ranks.device).to(memory_format=memory_format(optim.channels_last)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    progress = _resume(model, optimizer, run.last, ranks.device)
    network = _network(model, ranks, optim.compile)
    steps = range(progress.step, optim.steps)
    pace = Pace()
    with (
        RunLog(run.log, run.tensorboard, progress.step, enabled=ranks.is_main) as log,
        stop_requests() as stop,
        training_batches(
            data, optim.seed, steps, ranks.rank, ranks.world_size, pin_memory=ranks.device.type == "cuda"
        ) as batches,
        tqdm(steps, initial=progress.step, total=optim.steps, desc="train", disable=not ranks.is_main) as bar,
    ):
        for step in bar:
            if ranks.is_main:
                maybe_snapshot(model, data.val, step, run.snapshots, optim.snapshot_every, optim.snapshot_images)
            waiting = time.perf_counter()
            batch = next(batches)
            pace.add(len(batch.ids) * ranks.world_size, time.perf_counter() - waiting)
            has_background = data.train.classes.has_background
            loss, parts = _step(network, model, optimizer, batch, has_background, optim, ranks, step, run.last)
            progress.step = step + 1
            bar.set_postfix(
                loss=f"{loss.item():.3f}",
                img_s=f"{pace.images_per_second:.1f}",
                data_wait=f"{pace.data_wait_share:.0%}",
            )
            if progress.step % optim.log_every == 0:
                log.step(progress.step, loss.item(), parts, optimizer.param_groups[0]["lr"], pace)
            if progress.step % optim.eval_every == 0 or progress.step == optim.steps:
                if ranks.is_main:
                    _evaluate_and_checkpoint(model, optimizer, data, optim, progress, run, class_names, log)
                ranks.barrier()  # the others wait for the evaluation and the checkpoint
            if progress.step < optim.steps and ranks.any_rank(stop.signum is not None):
                if ranks.is_main:
                    _save_last(model, optimizer, optim, progress, run.last)
                ranks.barrier()
                raise Preempted(stop.signum or signal.SIGTERM, progress.step, run.last)
    if ranks.is_main:
        maybe_snapshot(model, data.val, optim.steps, run.snapshots, optim.snapshot_every, optim.snapshot_images)
    return ranks.broadcast(progress.best or {})
