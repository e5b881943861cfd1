"""torchvision VGGs with and without BatchNorm (``torchvision.models.VGG``)."""

from __future__ import annotations

from torch import nn
from torchvision.models import VGG

from unrolled_lrp.lrp.adapters import Adapter, Stage, last_conv_channels, register_adapter
from unrolled_lrp.lrp.plan import head_units, pool_unit, sequence_units
from unrolled_lrp.lrp.units import FlattenUnit, Unit


@register_adapter(VGG)
class VGGAdapter(Adapter[VGG]):
    """``features`` (conv blocks separated by max-pools), adaptive 7x7 average pooling, a 3-layer MLP."""

    family = "VGG (torchvision vgg*, with and without BatchNorm)"
    torchvision_prefixes = ("vgg",)

    def units(self, model: VGG) -> list[Unit]:
        units = sequence_units(model.features, "features")
        units += [pool_unit(model.avgpool, nn.AdaptiveAvgPool2d, "avgpool"), FlattenUnit("flatten")]
        return units + head_units(model.classifier, "classifier")

    def stages(self, model: VGG) -> list[Stage]:
        """Strides 1 to 32: the conv block before each max-pool, each later stage starting with that max-pool;
        the last stage is the final max-pool alone (keeping the previous width), so the stride-32 map is
        exactly what ``avgpool`` receives."""
        layers = list(model.features)
        pools = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
        bounds = [0, *pools, len(layers)]
        stages: list[Stage] = []
        for i, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
            module = nn.Sequential(*layers[start:end])
            has_conv = any(isinstance(m, nn.Conv2d) for m in module.modules())
            stages.append(Stage(module, last_conv_channels(module) if has_conv else stages[-1].channels, 2**i))
        return stages

    def head(self, model: VGG) -> nn.Sequential:
        return nn.Sequential(model.avgpool, nn.Flatten(1), model.classifier)

    def output_layer(self, model: VGG) -> nn.Linear:
        return model.classifier[-1]

    def replace_output_layer(self, model: VGG, layer: nn.Linear) -> None:
        model.classifier[-1] = layer
