"""torchvision ResNets, ResNeXts and wide ResNets (``torchvision.models.ResNet``)."""

from __future__ import annotations

from torch import nn
from torchvision.models import ResNet
from torchvision.models.resnet import BasicBlock, Bottleneck

from unrolled_lrp.lrp.adapters import (
    Adapter,
    Stage,
    UnsupportedLayerError,
    last_conv_channels,
    register_adapter,
    register_block,
)
from unrolled_lrp.lrp.plan import activation_of, conv_unit, head_units, join, pool_unit, sequence_units
from unrolled_lrp.lrp.units import FlattenUnit, ResidualUnit, SequenceUnit, Unit


@register_block(BasicBlock, Bottleneck)
def residual_unit(block: BasicBlock | Bottleneck, path: str) -> ResidualUnit:
    """``relu(bn(conv(...)) + shortcut(a))``, mirroring BasicBlock's and Bottleneck's ``forward``."""
    activation = activation_of(block.relu, join(path, "relu"))
    n_convs = 3 if isinstance(block, Bottleneck) else 2
    main: list[Unit] = [
        conv_unit(
            getattr(block, f"conv{i}"),
            getattr(block, f"bn{i}"),
            activation if i < n_convs else None,
            join(path, f"conv{i}"),
        )
        for i in range(1, n_convs + 1)
    ]
    shortcut = None if block.downsample is None else _shortcut_unit(block.downsample, join(path, "downsample"))
    return ResidualUnit(SequenceUnit(main, path), shortcut, activation, path)


def _shortcut_unit(downsample: nn.Module, path: str) -> Unit:
    layers = list(downsample.children()) if isinstance(downsample, nn.Sequential) else [downsample]
    if not layers or type(layers[0]) is not nn.Conv2d or len(layers) > 2:
        raise UnsupportedLayerError(path, downsample, "a shortcut must be Conv2d [+ BatchNorm2d]")
    return conv_unit(layers[0], layers[1] if len(layers) == 2 else None, None, join(path, "0"))


@register_adapter(ResNet)
class ResNetAdapter(Adapter[ResNet]):
    """Stem conv1-bn1-relu, maxpool, layer1-4 of residual blocks, global average pooling, fc."""

    family = "ResNet (torchvision resnet*, resnext*, wide_resnet*)"
    torchvision_prefixes = ("resnet", "resnext", "wide_resnet")

    def units(self, model: ResNet) -> list[Unit]:
        units = [
            conv_unit(model.conv1, model.bn1, activation_of(model.relu, "relu"), "conv1"),
            pool_unit(model.maxpool, nn.MaxPool2d, "maxpool"),
        ]
        for name in ("layer1", "layer2", "layer3", "layer4"):
            units += sequence_units(getattr(model, name), name)
        units += [pool_unit(model.avgpool, nn.AdaptiveAvgPool2d, "avgpool"), FlattenUnit("flatten")]
        return units + head_units(model.fc, "fc")

    def stages(self, model: ResNet) -> list[Stage]:
        """Strides 2 to 32: the stem, maxpool + layer1, layer2, layer3, layer4 (no stride-1 map: the first
        convolution already down-samples)."""
        stem = Stage(nn.Sequential(model.conv1, model.bn1, model.relu), model.conv1.out_channels, 2)
        layers = [nn.Sequential(model.maxpool, model.layer1), model.layer2, model.layer3, model.layer4]
        return [stem] + [Stage(layer, last_conv_channels(layer), 2 ** (i + 2)) for i, layer in enumerate(layers)]

    def head(self, model: ResNet) -> nn.Sequential:
        return nn.Sequential(model.avgpool, nn.Flatten(1), model.fc)

    def output_layer(self, model: ResNet) -> nn.Linear:
        return model.fc

    def replace_output_layer(self, model: ResNet, layer: nn.Linear) -> None:
        model.fc = layer
