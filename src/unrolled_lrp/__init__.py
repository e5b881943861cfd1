"""unrolled-lrp: an image classifier becomes a segmentation model through its own LRP explanations."""

__version__ = "0.1.0"
