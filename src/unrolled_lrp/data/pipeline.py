"""One call from a dataset folder and a few settings to the datasets, sampler and batch loader of a training run."""

from __future__ import annotations

import os
import signal
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from .check import require_training_splits, require_valid_dataset
from .classes import VOC, ClassSet
from .datasets import Batch, SegmentationDataset, collate
from .options import (
    ClosedUnitInterval,
    NonNegativeInt,
    OpenUnitInterval,
    PositiveFloat,
    PositiveInt,
    Seed,
    check_ranges,
)
from .regimes import select_regime, write_regime
from .sampler import MixedBatchSampler
from .transforms import Normalisation, eval_transform, input_range, train_transform
from .voc import MASK_FOLDER, VocItem, VocPools, load_voc, split_holdout


@dataclass(frozen=True)
class DataConfig:
    """Data settings of a run (jsonargparse-friendly).

    Args:
        root: Dataset folder (``ROOT`` with ``VOCdevkit/VOC2012``, or the ``VOC2012`` folder).
        classes: YAML class config (``classes: [background, ...]``, or without background for fully labelled
            sets); None: the 21 VOC classes.
        mask_folder: Folder of the pixel labels inside ``VOC2012`` (e.g. ``SegmentationClassFull``).
        num_pixel: Pixel-labelled images of the regime (20, 100, 500, 1464, ...); None: the whole pool.
        seed: Seed of the regime, the hold-out split and the batch order.
        use_aug: Use ``SegmentationClassAug`` masks (SBD, 10582 images) as the pixel pool.
        batch_size: Images per batch.
        pixel_fraction: Share of pixel-labelled images per batch (1.0: pixel-only, for UNet/FCN).
        epoch_length: Iterations per epoch; None: one pass over the slower pool.
        holdout_fraction: Share of the selected pixel-labelled images held out for model selection.
        holdout_count: Fixed hold-out size instead of ``holdout_fraction``.
        regime_threshold: From this N on, regimes follow the mixed instead of the uniform class rule.
        uniform_weight: Weight of the uniform distribution in the mixed rule (paper: 0.5).
        unselected_as_image_level: Train on pixel-pool images outside the regime with image labels only.
        crop_size: Training crop (pixels, square).
        scale_range: Random scale factors relative to the original image.
        normalise: ``imagenet`` (mean/std of torchvision's ImageNet weights) or ``none`` (raw [0, 1] pixels, as the
            authors' released code feeds its network); training, hold-out and val alike.
        color_jitter: Colour jitter of training images: brightness, contrast, saturation, hue (``v2.ColorJitter``).
        blur_p: Probability of a Gaussian blur of a training image (the closest ``transforms.v2`` has to a defocus
            blur; 0: off).
        blur_sigma: Range of the blur's standard deviation, in pixels of the scaled image.
        noise_p: Probability of additive Gaussian noise on a training image (0: off).
        noise_sigma: The noise's standard deviation on the [0, 1] pixel scale (the image is clipped back to [0, 1]).
        workers: DataLoader worker processes that decode and augment batches ahead of the training step
            (0: in the training process); None: :func:`default_workers`. Any count gives the same batches.
    """

    root: Path
    classes: Path | None = None
    mask_folder: str = MASK_FOLDER
    num_pixel: NonNegativeInt | None = None
    seed: Seed = 0
    use_aug: bool = False
    batch_size: PositiveInt = 10
    pixel_fraction: ClosedUnitInterval = 0.5
    epoch_length: PositiveInt | None = None
    holdout_fraction: OpenUnitInterval = 0.1
    holdout_count: PositiveInt | None = None
    regime_threshold: NonNegativeInt = 500
    uniform_weight: ClosedUnitInterval = 0.5
    unselected_as_image_level: bool = True
    crop_size: PositiveInt = 256
    scale_range: tuple[PositiveFloat, PositiveFloat] = (0.5, 2.0)
    normalise: Normalisation = "imagenet"
    color_jitter: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.05)
    blur_p: ClosedUnitInterval = 0.0
    blur_sigma: tuple[PositiveFloat, PositiveFloat] = (0.5, 2.5)
    noise_p: ClosedUnitInterval = 0.0
    noise_sigma: PositiveFloat = 0.02
    workers: NonNegativeInt | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "data")
        for name in ("scale_range", "blur_sigma"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"data.{name} must be (low, high) with low <= high, got {getattr(self, name)}")

    def input_range(self) -> tuple[list[float], list[float]]:
        """Per-channel (low, high) of a [0, 1] image as the network sees it (after ``normalise``): the bounds of
        LRP's zB rule at the input layer."""
        return input_range(self.normalise)

    def training_transform(self) -> v2.Compose:
        """The augmentation of training images these settings describe."""
        return train_transform(
            self.crop_size,
            self.scale_range,
            color_jitter=self.color_jitter,
            blur_p=self.blur_p,
            blur_sigma=self.blur_sigma,
            noise_p=self.noise_p,
            noise_sigma=self.noise_sigma,
            normalise=self.normalise,
        )

    def evaluation_transform(self) -> v2.Compose:
        """Hold-out and val images: full resolution, normalised like the training images."""
        return eval_transform(self.normalise)

    def check_crop_size(self, stride: int, network: str, processes: int = 1) -> None:
        """Refuse, before a run trains, a crop the ``network`` cannot train on: smaller than one ``stride`` (the
        coarsest feature map would be empty), or than two when one of the ``processes`` gets a single image per
        batch (BatchNorm would see one value per channel at the coarsest stride and fail), or no multiple of the
        stride: UNet and FCN need one, and for every model it keeps each pooling window whole (see
        :attr:`~unrolled_lrp.models.SegmentationModel.stride`)."""
        single = self.batch_size // processes == 1
        minimum = 2 * stride if single else stride
        if self.crop_size < minimum:
            why = (
                f"two strides: with one image per process and batch, BatchNorm needs more than one cell of the "
                f"coarsest feature map; or raise data.batch_size above {processes}"
                if single
                else "its stride: one cell of the coarsest feature map"
            )
            raise ValueError(f"data.crop_size must be at least {minimum} for {network} ({why}), got {self.crop_size}")
        if self.crop_size % stride:
            nearest = stride * max(1, round(self.crop_size / stride))
            raise ValueError(
                f"data.crop_size must be a multiple of {stride} (the coarsest stride of {network}), "
                f"got {self.crop_size}; e.g. {nearest}"
            )

    def class_set(self) -> ClassSet:
        """The configured classes."""
        return VOC if self.classes is None else ClassSet.from_yaml(self.classes)


@dataclass(frozen=True)
class TrainingData:
    """Everything a run reads: ``train`` (pixel-labelled items first) with its ``sampler``, ``holdout`` and ``val``;
    ``workers`` processes build the training batches (:func:`training_batches`)."""

    train: SegmentationDataset
    sampler: MixedBatchSampler
    holdout: SegmentationDataset
    val: SegmentationDataset
    pixel_ids: list[str]
    holdout_ids: list[str]
    regime_file: Path | None
    workers: int = 0


def _select(pools: VocPools, config: DataConfig) -> list[VocItem]:
    """The regime's pixel-labelled items, in regime order."""
    by_id = {item.id: item for item in pools.pixel}
    num_pixel = len(by_id) if config.num_pixel is None else config.num_pixel
    ids = select_regime(
        pools.pixel_labels(),
        num_pixel,
        seed=config.seed,
        threshold=config.regime_threshold,
        uniform_weight=config.uniform_weight,
        background=0 if config.class_set().has_background else None,
    )
    return [by_id[image_id] for image_id in ids]


def build_training_data(config: DataConfig, regime_dir: Path | None = None) -> TrainingData:
    """Check the dataset, pick the regime (its ids written to ``regime_dir``), split the hold-out, build the
    datasets and the sampler."""
    classes = config.class_set()
    require_valid_dataset(config.root, classes, use_aug=config.use_aug, mask_folder=config.mask_folder)
    pools = load_voc(config.root, classes, use_aug=config.use_aug, mask_folder=config.mask_folder)
    selected = _select(pools, config)
    pixel, holdout = split_holdout(
        selected, fraction=config.holdout_fraction, count=config.holdout_count, seed=config.seed
    )
    if config.pixel_fraction > 0:  # segmentation training: pixel labels to learn from and a hold-out split
        require_training_splits(pixel, holdout, classes)
    chosen = {item.id for item in selected}
    unselected = [replace(item, mask=None) for item in pools.pixel if item.id not in chosen]
    image_level = list(pools.image_level) + (unselected if config.unselected_as_image_level else [])
    return TrainingData(
        train=SegmentationDataset(pixel + image_level, classes, config.training_transform()),
        sampler=MixedBatchSampler(
            len(pixel),
            len(image_level),
            batch_size=config.batch_size,
            pixel_fraction=config.pixel_fraction,
            seed=config.seed,
            epoch_length=config.epoch_length,
        ),
        holdout=SegmentationDataset(holdout, classes, config.evaluation_transform()),
        val=SegmentationDataset(pools.val, classes, config.evaluation_transform()),
        pixel_ids=[item.id for item in pixel],
        holdout_ids=[item.id for item in holdout],
        regime_file=None
        if regime_dir is None
        else write_regime([item.id for item in selected], regime_dir, seed=config.seed),
        workers=default_workers() if config.workers is None else config.workers,
    )


def default_workers() -> int:
    """One worker per CPU core this process may use, less one for the training process itself, at most 8.

    Decoding and augmenting a 480x360 photo takes tens of milliseconds of one core, so on a GPU machine the
    workers, not the GPU, usually set the pace; more than 8 per training process rarely helps.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores - 1))


def step_seed(seed: int, step: int, rank: int = 0, world_size: int = 1, stream: int = 0) -> int:
    """The torch seed of one step of one process: ``stream`` 0 augments the batch, 1 drives dropout.

    Seeding every step from (seed, step, rank) alone makes a run resumable at any step, whichever process
    (main or DataLoader worker) draws the numbers.
    """
    return (((seed * 1_000_003 + step) * world_size + rank) << 1) | stream


class StepBatches(Dataset[Batch]):
    """Item ``step`` is this rank's share of batch number ``step``, augmented with :func:`step_seed`.

    Each rank takes ``batch[rank::world_size]`` of the global batch, which keeps the pixel-labelled images
    first (:meth:`MixedBatchSampler.batch` lists them first).
    """

    def __init__(
        self, train: SegmentationDataset, sampler: MixedBatchSampler, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.train, self.sampler, self.seed, self.rank, self.world_size = train, sampler, seed, rank, world_size

    def __getitem__(self, step: int) -> Batch:
        torch.manual_seed(step_seed(self.seed, step, self.rank, self.world_size))
        indices = self.sampler.batch(step)[self.rank :: self.world_size]
        return collate([self.train[index] for index in indices])


def _leave_signals_to_the_trainer(worker_id: int) -> None:
    """Workers ignore SIGINT/SIGTERM: the training process checkpoints on them and then shuts the workers down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _iterate(loader: DataLoader[Batch]) -> Generator[Batch, None, None]:
    """The loader's batches through a generator that holds its only iterator (and with it the workers, started at
    the first batch): closing the generator drops that iterator, which shuts the workers down."""
    yield from loader


@contextmanager
def training_batches(
    data: TrainingData, seed: int, steps: range, rank: int = 0, world_size: int = 1, pin_memory: bool = False
) -> Iterator[Iterator[Batch]]:
    """Batches ``steps`` of this rank, built by ``data.workers`` processes two batches ahead of the trainer.

    The workers end with the ``with`` block, however it ends. Left to garbage collection they would outlive an
    exception: its traceback keeps the caller's frame, and with it the open loader, alive until the interpreter
    exits, where ``multiprocessing`` then waits forever for workers that ignore SIGTERM (they leave it to the trainer).
    ``pin_memory`` (for CUDA) lets the host-to-GPU copy of a batch overlap the step before it.
    """
    loader = DataLoader(
        StepBatches(data.train, data.sampler, seed, rank, world_size),
        sampler=steps,
        batch_size=None,
        num_workers=data.workers,
        pin_memory=pin_memory,
        prefetch_factor=2 if data.workers else None,
        worker_init_fn=_leave_signals_to_the_trainer if data.workers else None,
    )
    batches = _iterate(loader)
    try:
        yield batches
    finally:
        batches.close()
