"""Plain ``nn.Sequential`` classifiers built from the supported layers (and registered blocks)."""

from __future__ import annotations

import math

from torch import nn

from unrolled_lrp.lrp.adapters import Adapter, UnsupportedLayerError, register_adapter
from unrolled_lrp.lrp.plan import sequence_units
from unrolled_lrp.lrp.units import Unit


@register_adapter(nn.Sequential)
class SequentialAdapter(Adapter[nn.Sequential]):
    """Units only: a plain Sequential carries no stage structure for UNet/FCN skips."""

    family = "nn.Sequential of the supported layers"

    def units(self, model: nn.Sequential) -> list[Unit]:
        return sequence_units(model, "")

    def stride(self, model: nn.Sequential) -> int:
        """The product of the layers' strides (per dimension; their least common multiple if they differ)."""
        return math.lcm(*_strides(model))

    def output_layer(self, model: nn.Sequential) -> nn.Linear:
        if not len(model) or type(model[-1]) is not nn.Linear:
            raise UnsupportedLayerError("", model, "the classifier must end with a Linear output layer")
        return model[-1]

    def replace_output_layer(self, model: nn.Sequential, layer: nn.Linear) -> None:
        self.output_layer(model)
        model[-1] = layer


def _strides(module: nn.Module) -> tuple[int, int]:
    """(height, width) down-sampling of ``module``: layers and blocks state theirs in ``stride`` (Conv2d, the
    pools, torchvision's residual blocks); a nested Sequential multiplies its layers'."""
    if isinstance(module, nn.Sequential):
        height = width = 1
        for layer in module:
            layer_height, layer_width = _strides(layer)
            height, width = height * layer_height, width * layer_width
        return height, width
    stride = getattr(module, "stride", 1)
    return (stride, stride) if isinstance(stride, int) else (stride[0], stride[1])
