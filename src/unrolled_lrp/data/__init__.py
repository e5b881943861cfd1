"""Data: PASCAL VOC (or VOC-layout) reading, label regimes, semi-supervised batches, augmentation,
dataset checks and a synthetic VOC-layout dataset."""

from .check import check_dataset, require_valid_dataset
from .classes import IGNORE_INDEX, VOC, VOC_CLASSES, ClassSet, voc_palette
from .datasets import Batch, Sample, SegmentationDataset, collate, multi_hot
from .pipeline import DataConfig, TrainingData, build_training_data
from .problems import DatasetError, Problem
from .regimes import greedy_uniform_order, mixed_order, regime_order, regime_path, select_regime, write_regime
from .sampler import MixedBatchSampler
from .synth import SynthConfig, write_synthetic_voc
from .transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomScale,
    crop_to_size,
    eval_transform,
    train_transform,
)
from .voc import (
    VocItem,
    VocLayout,
    VocPools,
    find_voc,
    load_voc,
    read_ids,
    read_image,
    read_mask,
    split_holdout,
    write_ids,
)

__all__ = [
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VOC",
    "VOC_CLASSES",
    "Batch",
    "ClassSet",
    "DataConfig",
    "DatasetError",
    "MixedBatchSampler",
    "Problem",
    "RandomScale",
    "Sample",
    "SegmentationDataset",
    "SynthConfig",
    "TrainingData",
    "VocItem",
    "VocLayout",
    "VocPools",
    "build_training_data",
    "check_dataset",
    "collate",
    "crop_to_size",
    "eval_transform",
    "find_voc",
    "greedy_uniform_order",
    "load_voc",
    "mixed_order",
    "multi_hot",
    "read_ids",
    "read_image",
    "read_mask",
    "regime_order",
    "regime_path",
    "require_valid_dataset",
    "select_regime",
    "split_holdout",
    "train_transform",
    "voc_palette",
    "write_ids",
    "write_regime",
    "write_synthetic_voc",
]
