"""unrolled-lrp: an image classifier becomes a segmentation model through its own LRP explanations."""

from unrolled_lrp.lrp import LRPConfig, UnrolledLRP, UnrolledOutput, UnsupportedLayerError, unroll

__version__ = "0.1.0"
__all__ = ["LRPConfig", "UnrolledLRP", "UnrolledOutput", "UnsupportedLayerError", "unroll"]
