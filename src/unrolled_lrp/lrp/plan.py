"""Reading a classifier's structure into encoder-decoder units.

The architecture-specific part is asked from the family's adapter (:mod:`unrolled_lrp.lrp.adapters`,
:mod:`unrolled_lrp.lrp.families`); this module holds what every family shares: the units of an
``nn.Sequential`` (each Conv2d/Linear grouped with its BatchNorm and activation, registered blocks,
pooling, flatten, dropout) and the check that the plan ends with an output layer. Anything unsupported fails
here, when the model is unrolled, with the module's path and type, instead of producing wrong heatmaps or
failing mid-training.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import cast

from torch import nn

from unrolled_lrp.lrp.adapters import UnsupportedLayerError, adapter_for, block_builder
from unrolled_lrp.lrp.units import (
    AdaptiveAvgPoolUnit,
    ConvUnit,
    DropoutUnit,
    FlattenUnit,
    LinearUnit,
    MaxPoolUnit,
    SequenceUnit,
    Unit,
)

#: The activations a Conv2d, BatchNorm2d or Linear may be followed by, and their names in the gates.
ACTIVATIONS: dict[type[nn.Module], str] = {nn.ReLU: "relu", nn.ReLU6: "relu6"}

NamedModules = deque[tuple[str, nn.Module]]


def join(prefix: str, name: str) -> str:
    """The dotted path of child ``name`` of the module at ``prefix``."""
    return f"{prefix}.{name}" if prefix else name


def conv_unit(conv: nn.Module, bn: nn.Module | None, activation: str | None, path: str) -> ConvUnit:
    if type(conv) is not nn.Conv2d:
        raise UnsupportedLayerError(path, conv, "expected nn.Conv2d")
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise UnsupportedLayerError(path, conv, "only zero padding given as numbers is supported")
    if bn is not None and type(bn) is not nn.BatchNorm2d:
        raise UnsupportedLayerError(path, bn, "only BatchNorm2d may follow a convolution")
    return ConvUnit(conv, bn, activation, path)


def activation_of(module: nn.Module, path: str) -> str:
    """The gate name of an activation module, which must be exactly nn.ReLU or nn.ReLU6."""
    if type(module) not in ACTIVATIONS:
        raise UnsupportedLayerError(path, module, "the activation must be nn.ReLU or nn.ReLU6")
    return ACTIVATIONS[type(module)]


def sequence_units(seq: nn.Sequential, prefix: str) -> list[Unit]:
    """Units of an ``nn.Sequential`` (or a subclass keeping its ``forward``), in order."""
    items: NamedModules = deque((join(prefix, name), module) for name, module in seq.named_children())
    units: list[Unit] = []
    while items:
        path, module = items.popleft()
        if type(module) in (nn.Conv2d, nn.Linear):
            units.append(_affine_unit(module, path, items))
        else:
            units.extend(_layer_units(module, path))
    return units


def _affine_unit(module: nn.Module, path: str, following: NamedModules) -> Unit:
    """A Conv2d or Linear with the BatchNorm (Conv2d only) and the activation that follow it, taken from
    ``following``."""
    bn = None
    if type(module) is nn.Conv2d and following and isinstance(following[0][1], nn.modules.batchnorm._BatchNorm):
        bn = following.popleft()[1]
    activation = ACTIVATIONS.get(type(following[0][1])) if following else None
    if activation is not None:
        following.popleft()
    if type(module) is nn.Conv2d:
        return conv_unit(module, bn, activation, path)
    return LinearUnit(cast(nn.Linear, module), activation, path)


def _flatten_unit(module: nn.Flatten, path: str) -> FlattenUnit:
    if module.start_dim != 1 or module.end_dim != -1:
        raise UnsupportedLayerError(path, module, "only Flatten(start_dim=1, end_dim=-1) is supported")
    return FlattenUnit(path)


#: Single layers that are units of their own (the Identity is none).
LAYER_UNITS: dict[type[nn.Module], Callable[..., Unit | None]] = {
    nn.MaxPool2d: MaxPoolUnit,
    nn.AdaptiveAvgPool2d: AdaptiveAvgPoolUnit,
    nn.Flatten: _flatten_unit,
    nn.Dropout: DropoutUnit,
    nn.Identity: lambda module, path: None,
}


def _layer_units(module: nn.Module, path: str) -> list[Unit]:
    """The units of a module that is not a Conv2d or Linear: a single layer, a registered block or a
    nested Sequential."""
    if type(module) in LAYER_UNITS:
        unit = LAYER_UNITS[type(module)](module, path)
        return [] if unit is None else [unit]
    builder = block_builder(module, path)
    if builder is not None:
        return [builder(module, path)]
    if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
        return sequence_units(module, path)
    if type(module) in ACTIVATIONS:
        raise UnsupportedLayerError(path, module, "an activation must directly follow a Conv2d, BatchNorm2d or Linear")
    raise UnsupportedLayerError(path, module)


def pool_unit(module: nn.Module, kind: type[nn.MaxPool2d | nn.AdaptiveAvgPool2d], path: str) -> Unit:
    """The unit of a pooling attribute that a family's ``forward`` calls (e.g. ResNet's ``maxpool``)."""
    if type(module) is not kind:
        raise UnsupportedLayerError(path, module, f"expected {kind.__name__}")
    if isinstance(module, nn.MaxPool2d):
        return MaxPoolUnit(module, path)
    return AdaptiveAvgPoolUnit(module, path)


def head_units(head: nn.Module, path: str) -> list[Unit]:
    """The linear head: a single Linear or a Sequential of supported layers (e.g. Dropout + Linear)."""
    if type(head) is nn.Linear:
        return [LinearUnit(head, None, path)]
    if type(head) is nn.Sequential:
        return sequence_units(head, path)
    raise UnsupportedLayerError(path, head, "the head must be a Linear or a Sequential")


def build_plan(model: nn.Module) -> SequenceUnit:
    """The encoder-decoder units of ``model``; raises ``UnsupportedLayerError`` for anything else."""
    units = adapter_for(model).units(model)
    if not units or not isinstance(units[-1], LinearUnit) or units[-1].activation is not None:
        raise UnsupportedLayerError("", model, "the classifier must end with a Linear output layer")
    return SequenceUnit(units)
