"""Classifiers, their shared encoders, and the baseline segmentation models.

Importing this package registers "unet", "mt_unet", "fcn", "unrolled_lrp", "ws_ae" and "lrp_readout" in the model
registry.
"""

from torch import nn

from .base import SegmentationModel, SegmentationOutput, check_input_size, check_seg_mask
from .classifiers import build_classifier, classifier_stride, final_linear, supported_architectures
from .encoders import Encoder, build_encoder, classifier_head
from .fcn import FCN
from .registry import build_model, display_name, list_models, register_model, takes_lrp
from .unet import MultiTaskUNet, UNet
from .unrolled import UnrolledSegmenter
from .weights import imagenet_categories, load_checkpoint


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of unique parameter elements (shared Parameters counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "FCN",
    "Encoder",
    "MultiTaskUNet",
    "SegmentationModel",
    "SegmentationOutput",
    "UNet",
    "UnrolledSegmenter",
    "build_classifier",
    "build_encoder",
    "build_model",
    "classifier_stride",
    "check_input_size",
    "check_seg_mask",
    "classifier_head",
    "count_parameters",
    "display_name",
    "final_linear",
    "imagenet_categories",
    "list_models",
    "load_checkpoint",
    "register_model",
    "supported_architectures",
    "takes_lrp",
]
