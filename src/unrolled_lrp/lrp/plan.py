"""Reading a classifier's structure into encoder-decoder units.

Supported: torchvision ResNets (incl. ResNeXt and wide ResNets), torchvision VGGs with and without
BatchNorm, and ``nn.Sequential`` classifiers built from the supported layers. Anything else fails
here, when the model is unrolled, with the module's path and type, instead of producing wrong
heatmaps or failing mid-training.
"""

from __future__ import annotations

from torch import nn
from torchvision.models import VGG, ResNet
from torchvision.models.resnet import BasicBlock, Bottleneck

from unrolled_lrp.lrp.units import (
    AdaptiveAvgPoolUnit,
    ConvUnit,
    DropoutUnit,
    FlattenUnit,
    LinearUnit,
    MaxPoolUnit,
    ResidualUnit,
    SequenceUnit,
    Unit,
)

SUPPORTED = (
    "Conv2d [+ BatchNorm2d] [+ ReLU], Linear [+ ReLU], MaxPool2d, AdaptiveAvgPool2d, Flatten, Dropout, "
    "Identity, nested Sequential, and torchvision BasicBlock/Bottleneck residual blocks"
)


class UnsupportedLayerError(TypeError):
    """A classifier contains a layer that unrolled LRP cannot transpose."""

    def __init__(self, path: str, module: nn.Module, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Cannot unroll module '{path or '<root>'}' of type {type(module).__module__}.{type(module).__qualname__}"
            f"{detail}. Unrolled LRP supports ReLU CNN classifiers made of: {SUPPORTED}. "
            "Replace this layer (e.g. GELU -> ReLU, LayerNorm -> BatchNorm2d) or remove it before unrolling."
        )


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _require_own_forward(model: nn.Module, base: type, path: str) -> None:
    """A subclass that overrides ``forward`` may compute something else than its modules suggest."""
    if type(model).forward is not base.forward:
        raise UnsupportedLayerError(path, model, f"it overrides {base.__name__}.forward, so its structure is unknown")


def _check_conv(conv: nn.Conv2d, path: str) -> None:
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise UnsupportedLayerError(path, conv, "only zero padding given as numbers is supported")


def _check_relu(module: nn.Module, path: str) -> None:
    if type(module) is not nn.ReLU:
        raise UnsupportedLayerError(path, module, "the activation must be nn.ReLU")


def conv_unit(conv: nn.Conv2d, bn: nn.Module | None, activated: bool, path: str) -> ConvUnit:
    _check_conv(conv, path)
    if bn is not None and type(bn) is not nn.BatchNorm2d:
        raise UnsupportedLayerError(path, bn, "only BatchNorm2d may follow a convolution")
    return ConvUnit(conv, bn, activated, path)


def residual_unit(block: nn.Module, path: str) -> ResidualUnit:
    """A torchvision BasicBlock or Bottleneck, mirroring its ``forward`` exactly."""
    base = Bottleneck if isinstance(block, Bottleneck) else BasicBlock
    _require_own_forward(block, base, path)
    _check_relu(block.relu, _join(path, "relu"))
    n_convs = 3 if base is Bottleneck else 2
    main = [
        conv_unit(getattr(block, f"conv{i}"), getattr(block, f"bn{i}"), i < n_convs, _join(path, f"conv{i}"))
        for i in range(1, n_convs + 1)
    ]
    shortcut = None
    if block.downsample is not None:
        shortcut = _downsample_unit(block.downsample, _join(path, "downsample"))
    return ResidualUnit(SequenceUnit(main, path), shortcut, path)


def _downsample_unit(downsample: nn.Module, path: str) -> ConvUnit:
    layers = list(downsample.children()) if isinstance(downsample, nn.Sequential) else [downsample]
    if not layers or type(layers[0]) is not nn.Conv2d or len(layers) > 2:
        raise UnsupportedLayerError(path, downsample, "a shortcut must be Conv2d [+ BatchNorm2d]")
    return conv_unit(layers[0], layers[1] if len(layers) == 2 else None, False, _join(path, "0"))


def sequence_units(seq: nn.Sequential, prefix: str) -> list[Unit]:
    """Units of an ``nn.Sequential``, grouping each Conv2d/Linear with its BatchNorm and ReLU."""
    items = [(_join(prefix, name), module) for name, module in seq.named_children()]
    units: list[Unit] = []
    i = 0
    while i < len(items):
        path, module = items[i]
        i += 1
        if isinstance(module, (nn.Conv2d, nn.Linear)) and type(module) in (nn.Conv2d, nn.Linear):
            bn = None
            if (
                type(module) is nn.Conv2d
                and i < len(items)
                and isinstance(items[i][1], nn.modules.batchnorm._BatchNorm)
            ):
                bn = items[i][1]
                i += 1
            activated = i < len(items) and type(items[i][1]) is nn.ReLU
            i += activated
            if type(module) is nn.Conv2d:
                units.append(conv_unit(module, bn, activated, path))
            else:
                units.append(LinearUnit(module, activated, path))
        elif type(module) is nn.MaxPool2d:
            units.append(MaxPoolUnit(module, path))
        elif type(module) is nn.AdaptiveAvgPool2d:
            units.append(AdaptiveAvgPoolUnit(module, path))
        elif type(module) is nn.Flatten:
            if module.start_dim != 1 or module.end_dim != -1:
                raise UnsupportedLayerError(path, module, "only Flatten(start_dim=1, end_dim=-1) is supported")
            units.append(FlattenUnit(path))
        elif type(module) is nn.Dropout:
            units.append(DropoutUnit(module, path))
        elif type(module) is nn.Identity:
            continue
        elif isinstance(module, (BasicBlock, Bottleneck)):
            units.append(residual_unit(module, path))
        elif type(module) is nn.Sequential:
            units.extend(sequence_units(module, path))
        elif type(module) is nn.ReLU:
            raise UnsupportedLayerError(path, module, "a ReLU must directly follow a Conv2d, BatchNorm2d or Linear")
        else:
            raise UnsupportedLayerError(path, module)
    return units


def _pool_unit(module: nn.Module, kind: type, path: str) -> Unit:
    if type(module) is not kind:
        raise UnsupportedLayerError(path, module, f"expected {kind.__name__}")
    return MaxPoolUnit(module, path) if kind is nn.MaxPool2d else AdaptiveAvgPoolUnit(module, path)


def _head_units(head: nn.Module, path: str) -> list[Unit]:
    """The linear head: a single Linear or a Sequential of supported layers (e.g. Dropout + Linear)."""
    if type(head) is nn.Linear:
        return [LinearUnit(head, False, path)]
    if type(head) is nn.Sequential:
        return sequence_units(head, path)
    raise UnsupportedLayerError(path, head, "the head must be a Linear or a Sequential")


def resnet_units(model: ResNet) -> list[Unit]:
    _require_own_forward(model, ResNet, "")
    _check_relu(model.relu, "relu")
    units: list[Unit] = [
        conv_unit(model.conv1, model.bn1, True, "conv1"),
        _pool_unit(model.maxpool, nn.MaxPool2d, "maxpool"),
    ]
    for name in ("layer1", "layer2", "layer3", "layer4"):
        units += sequence_units(getattr(model, name), name)
    units += [_pool_unit(model.avgpool, nn.AdaptiveAvgPool2d, "avgpool"), FlattenUnit("flatten")]
    return units + _head_units(model.fc, "fc")


def vgg_units(model: VGG) -> list[Unit]:
    _require_own_forward(model, VGG, "")
    units = sequence_units(model.features, "features")
    units += [_pool_unit(model.avgpool, nn.AdaptiveAvgPool2d, "avgpool"), FlattenUnit("flatten")]
    return units + _head_units(model.classifier, "classifier")


def build_plan(model: nn.Module) -> SequenceUnit:
    """The encoder-decoder units of ``model``; raises ``UnsupportedLayerError`` for anything else."""
    if isinstance(model, ResNet):
        units = resnet_units(model)
    elif isinstance(model, VGG):
        units = vgg_units(model)
    elif type(model) is nn.Sequential:
        units = sequence_units(model, "")
    else:
        raise UnsupportedLayerError("", model, "expected a torchvision ResNet or VGG, or an nn.Sequential")
    if not units or not isinstance(units[-1], LinearUnit) or units[-1].activated:
        raise UnsupportedLayerError("", model, "the classifier must end with a Linear output layer")
    return SequenceUnit(units)
