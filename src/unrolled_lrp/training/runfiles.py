"""The files a training run writes, as the trainer and the pre-trainer see them: paths they are given.

``training`` sits below ``runs`` and may not import it, yet the run directory's file names must have one source:
:class:`unrolled_lrp.runs.RunDir`. So this layer names no file; it states which paths it needs, and a ``RunDir``
provides them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class RunFiles(Protocol):
    """Where a run's training state, log and outputs go (``unrolled_lrp.runs.RunDir`` is one)."""

    @property
    def path(self) -> Path:
        """The run directory, created when training starts."""

    @property
    def last(self) -> Path:
        """The full training state (model, optimizer, step, best so far) to resume from."""

    @property
    def best(self) -> Path:
        """The model with the best hold-out mIoU."""

    @property
    def log(self) -> Path:
        """The CSV of the losses: step, loss, seg_loss, cls_loss."""

    @property
    def tensorboard(self) -> Path:
        """The folder of TensorBoard event files."""

    @property
    def snapshots(self) -> Path:
        """The folder of the prediction snapshots taken over training."""

    @property
    def classifier(self) -> Path:
        """The pre-trained classifier's state dict (pre-training runs)."""
