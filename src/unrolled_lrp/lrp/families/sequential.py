"""Plain ``nn.Sequential`` classifiers built from the supported layers (and registered blocks)."""

from __future__ import annotations

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

    def output_layer(self, model: nn.Sequential) -> nn.Linear:
        if not len(model) or type(model[-1]) is not nn.Linear:
            raise UnsupportedLayerError("", model, "the classifier must end with a Linear output layer")
        return model[-1]

    def replace_output_layer(self, model: nn.Sequential, layer: nn.Linear) -> None:
        self.output_layer(model)
        model[-1] = layer
