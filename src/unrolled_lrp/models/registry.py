"""Name → builder registry for segmentation models (timm-style).

Each builder turns a classifier into a segmentation model sharing the classifier's
pre-trained modules: ``builder(classifier, num_classes, **kwargs) -> SegmentationModel``.
Builders register themselves with :func:`register_model` when :mod:`unrolled_lrp.models` is
imported: ``unet``, ``mt_unet``, ``fcn``, ``unrolled_lrp`` and ``ws_ae``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from .base import SegmentationModel

Builder = Callable[..., SegmentationModel]

MODEL_REGISTRY: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` under ``name``; a name can only be registered once."""

    def decorator(builder: Builder) -> Builder:
        if name in MODEL_REGISTRY:
            raise ValueError(f"model name {name!r} is already registered by {MODEL_REGISTRY[name].__qualname__}")
        MODEL_REGISTRY[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Names of the registered segmentation models, sorted."""
    return sorted(MODEL_REGISTRY)


def build_model(name: str, classifier: nn.Module, num_classes: int, **kwargs: Any) -> SegmentationModel:
    """Build the segmentation model registered as ``name`` on top of ``classifier``.

    The model shares the classifier's modules: build a fresh classifier for every model
    that must train independently.
    """
    if name not in MODEL_REGISTRY:
        raise KeyError(f"unknown segmentation model {name!r}; registered: {list_models()}")
    return MODEL_REGISTRY[name](classifier, num_classes, **kwargs)
