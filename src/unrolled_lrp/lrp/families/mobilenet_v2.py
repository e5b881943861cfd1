"""torchvision MobileNetV2 at any ``width_mult`` (``torchvision.models.MobileNetV2``).

``features`` is a Sequential of ``Conv2dNormActivation`` (Conv2d + BatchNorm2d + ReLU6, unrolled by the generic
Sequential plan as a nested Sequential) and ``InvertedResidual`` blocks (1x1 expansion, 3x3 depthwise
convolution, 1x1 linear projection; ``x + conv(x)`` with nothing after the sum where the shapes allow). Its
``forward`` then pools and flattens functionally (``adaptive_avg_pool2d(x, (1, 1))``, ``flatten(x, 1)``), and
the classifier is Dropout + Linear. Depthwise convolutions decode by ``conv_transpose2d`` with the same groups.
"""

from __future__ import annotations

import math

from torch import nn
from torchvision.models import MobileNetV2
from torchvision.models.mobilenetv2 import InvertedResidual

from unrolled_lrp.lrp.adapters import Adapter, Stage, last_conv_channels, register_adapter, register_block
from unrolled_lrp.lrp.plan import head_units, join, sequence_units
from unrolled_lrp.lrp.units import AdaptiveAvgPoolUnit, FlattenUnit, ResidualUnit, SequenceUnit, Unit


@register_block(InvertedResidual)
def inverted_residual_unit(block: InvertedResidual, path: str) -> Unit:
    """``x + conv(x)`` (identity shortcut, no activation after the sum) or ``conv(x)`` alone, as its ``forward``."""
    main = SequenceUnit(sequence_units(block.conv, join(path, "conv")), path)
    return ResidualUnit(main, None, None, path) if block.use_res_connect else main


def _stride(block: nn.Module) -> int:
    return math.prod(m.stride[0] for m in block.modules() if isinstance(m, nn.Conv2d))


@register_adapter(MobileNetV2)
class MobileNetV2Adapter(Adapter[MobileNetV2]):
    family = "MobileNetV2 (torchvision mobilenet_v2, any width_mult)"
    torchvision_prefixes = ("mobilenet_v2",)

    def units(self, model: MobileNetV2) -> list[Unit]:
        # forward's functional adaptive_avg_pool2d(x, (1, 1)) and flatten(x, 1), as (stateless) units
        pool = AdaptiveAvgPoolUnit(nn.AdaptiveAvgPool2d((1, 1)), "adaptive_avg_pool2d")
        units = sequence_units(model.features, "features") + [pool, FlattenUnit("flatten")]
        return units + head_units(model.classifier, "classifier")

    def stages(self, model: MobileNetV2) -> list[Stage]:
        """Strides 2 to 32: ``features`` cut before every block that down-samples (for width 1: features[0:2],
        [2:4], [4:7], [7:14], [14:19]); the last stage ends with the final 1x1 convolution, whose output the
        head pools."""
        groups: list[list[nn.Module]] = []
        for block in model.features:
            if _stride(block) > 1 or not groups:
                groups.append([])
            groups[-1].append(block)
        stages, stride = [], 1
        for blocks in groups:
            stride *= _stride(blocks[0])
            module = nn.Sequential(*blocks)
            stages.append(Stage(module, last_conv_channels(module), stride))
        return stages

    def head(self, model: MobileNetV2) -> nn.Sequential:
        return nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(1), model.classifier)

    def output_layer(self, model: MobileNetV2) -> nn.Linear:
        return model.classifier[-1]

    def replace_output_layer(self, model: MobileNetV2, layer: nn.Linear) -> None:
        model.classifier[-1] = layer
