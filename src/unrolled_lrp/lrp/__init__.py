"""The unrolled-LRP core: a classifier of a supported family and its tied-weight LRP decoder.

Architecture knowledge lives in one adapter per family (:mod:`unrolled_lrp.lrp.adapters`,
:mod:`unrolled_lrp.lrp.families`), which are registered when this package is imported.
"""

from unrolled_lrp.lrp import families  # noqa: F401 - registers the adapters
from unrolled_lrp.lrp.adapters import (
    Adapter,
    Stage,
    UnsupportedLayerError,
    adapter_for,
    register_adapter,
    register_block,
    supported_families,
)
from unrolled_lrp.lrp.composites import PRESETS
from unrolled_lrp.lrp.config import LRPConfig
from unrolled_lrp.lrp.plan import build_plan
from unrolled_lrp.lrp.rules import (
    Activation,
    AlphaBeta,
    DecoderReLU,
    Epsilon,
    Flat,
    Gamma,
    GateRule,
    InputRule,
    ModifiedWeightRule,
    Rule,
    WSquare,
    ZBox,
    Zero,
    ZPlus,
)
from unrolled_lrp.lrp.unrolled import UnrolledLRP, UnrolledOutput, unroll

__all__ = [
    "Adapter",
    "Activation",
    "AlphaBeta",
    "DecoderReLU",
    "Epsilon",
    "Flat",
    "Gamma",
    "GateRule",
    "InputRule",
    "LRPConfig",
    "ModifiedWeightRule",
    "PRESETS",
    "Rule",
    "WSquare",
    "ZBox",
    "ZPlus",
    "Zero",
    "Stage",
    "UnrolledLRP",
    "UnrolledOutput",
    "UnsupportedLayerError",
    "adapter_for",
    "build_plan",
    "register_adapter",
    "register_block",
    "supported_families",
    "unroll",
]
