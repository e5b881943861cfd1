"""Training objective and checkpoints."""

from unrolled_lrp.training.checkpoint import load, save_atomic
from unrolled_lrp.training.losses import classification_loss, combined_loss, segmentation_loss

__all__ = ["classification_loss", "combined_loss", "load", "save_atomic", "segmentation_loss"]
