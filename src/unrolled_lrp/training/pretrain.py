"""Classifier pre-training on image-level labels: the starting point every segmentation model shares."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from torch import Tensor, nn

from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.models import SegmentationModel, SegmentationOutput, classifier_stride

from .checkpoint import save_atomic
from .distributed import setup
from .runfiles import RunFiles
from .trainer import TrainConfig, train


class ImageClassifier(SegmentationModel):
    """A classifier behind the segmentation interface: class scores only, trained with the BCE alone."""

    uses_image_labels = True

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    @property
    def stride(self) -> int:
        return classifier_stride(self.classifier)

    def forward(self, x: Tensor, seg_mask: Tensor | int | None = None) -> SegmentationOutput:
        return SegmentationOutput(None, self.classifier(x))


def image_level_only(data: DataConfig) -> DataConfig:
    """Every training image (the pixel-labelled pool included) as an image-level example."""
    return replace(data, num_pixel=0, pixel_fraction=0.0, unselected_as_image_level=True)


def pretrain_classifier(
    classifier: nn.Module, *, data: DataConfig, optim: TrainConfig, run: RunFiles, class_names: list[str]
) -> Path:
    """Fine-tune ``classifier`` with per-class sigmoid BCE (background weight 0) on all image-level labels.

    There is no model selection (VOC val is never used for it and image-level labels have no hold-out
    split): the classifier after ``optim.steps`` steps is written to ``run.classifier`` (returned).
    Interrupted runs resume from ``run.last`` like segmentation training; under torchrun rank 0
    writes the file.
    """
    training_data = build_training_data(image_level_only(data))
    train(ImageClassifier(classifier), data=training_data, optim=optim, run=run, class_names=class_names)
    if setup(optim.device).is_main:
        save_atomic({"model": classifier.state_dict()}, run.classifier)
    return run.classifier
