"""The unrolled-LRP core: a ReLU CNN classifier and its tied-weight LRP decoder."""

from unrolled_lrp.lrp.gating import EpsilonGating, Gating, HeavisideGating, ReLUGating, make_gating
from unrolled_lrp.lrp.plan import UnsupportedLayerError, build_plan
from unrolled_lrp.lrp.unrolled import UnrolledLRP, UnrolledOutput, unroll

__all__ = [
    "EpsilonGating",
    "Gating",
    "HeavisideGating",
    "ReLUGating",
    "UnrolledLRP",
    "UnrolledOutput",
    "UnsupportedLayerError",
    "build_plan",
    "make_gating",
    "unroll",
]
