"""Name → builder registry for segmentation models (timm-style), with each model's display name.

Each builder turns a classifier into a segmentation model sharing the classifier's
pre-trained modules: ``builder(classifier, num_classes, **options) -> SegmentationModel``; a builder that decodes
LRP heatmaps also takes ``lrp=LRPConfig(...)``. Builders register themselves with :func:`register_model` when
:mod:`unrolled_lrp.models` is imported: ``unet``, ``mt_unet``, ``fcn``, ``unrolled_lrp``, ``ws_ae`` and
``lrp_readout``. The registry is asked through the functions below, never through its dict.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from .base import SegmentationModel

Builder = Callable[..., SegmentationModel]


@dataclass(frozen=True)
class _Entry:
    builder: Builder
    display: str


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str, *, display: str | None = None) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` under ``name``, shown as ``display`` in reports (default: ``name``); a name
    can only be registered once."""

    def decorator(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name].builder.__qualname__}")
        _REGISTRY[name] = _Entry(builder, display or name)
        return builder

    return decorator


def list_models() -> list[str]:
    """Names of the registered segmentation models, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise KeyError(f"unknown segmentation model {name!r}; registered: {list_models()}")
    return _REGISTRY[name]


def display_name(name: str) -> str:
    """The name a report shows for model ``name``."""
    return _entry(name).display


def takes_lrp(name: str) -> bool:
    """Whether model ``name`` decodes LRP heatmaps, i.e. its builder takes ``lrp=LRPConfig(...)``."""
    return "lrp" in inspect.signature(_entry(name).builder).parameters


def build_model(name: str, classifier: nn.Module, num_classes: int, **options: Any) -> SegmentationModel:
    """Build the segmentation model registered as ``name`` on top of ``classifier``.

    The model shares the classifier's modules: build a fresh classifier for every model
    that must train independently.
    """
    return _entry(name).builder(classifier, num_classes, **options)
