"""Architecture adapters: everything the library knows about a classifier family, found by module type.

The generic machinery (units, rules, the plan of an ``nn.Sequential``) knows no architecture, the way zennit
keeps its torchvision-specific canonizers apart from its rules. Each family has one module in
:mod:`unrolled_lrp.lrp.families`, the one place to look for that family, holding

* an :class:`Adapter` registered for the family's model type with :func:`register_adapter`: its LRP units
  (mirroring the family's ``forward``), its encoder stages (the skip connections of UNet and FCN), the head
  after them, its output layer and how to replace it, and the torchvision builder names it serves;
* the builders of its blocks (e.g. residual blocks) registered with :func:`register_block`, so that they
  are unrolled wherever they appear in an ``nn.Sequential``.

Lookups follow the type's method resolution order, so subclasses are served too, unless they override the
``forward`` that the adapter mirrors. Adding a family is one new module in ``families/`` (imported
automatically) plus its tests; the models layer (encoders, classifiers) asks :func:`adapter_for` as well.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from torch import nn

from unrolled_lrp.lrp.units import Unit

#: The layers the generic plan of an ``nn.Sequential`` turns into units.
SUPPORTED_LAYERS = (
    "Conv2d (any groups) [+ BatchNorm2d] [+ ReLU/ReLU6], Linear [+ ReLU/ReLU6], MaxPool2d, AdaptiveAvgPool2d, "
    "Flatten, Dropout, Identity, nested Sequential"
)


class Stage(NamedTuple):
    """One encoder stage: the classifier's own modules, their output width and stride w.r.t. the input."""

    module: nn.Module
    channels: int
    stride: int


Model = TypeVar("Model", bound=nn.Module)


class Adapter(ABC, Generic[Model]):
    """What the library knows about one architecture family (``Model``: its module type)."""

    #: Shown in error messages and in the list of supported families.
    family: str
    #: Name prefixes of the torchvision builders (``torchvision.models.get_model``) of this family.
    torchvision_prefixes: tuple[str, ...] = ()

    @abstractmethod
    def units(self, model: Model) -> list[Unit]:
        """The LRP units of ``model``, in the order of its ``forward``, ending with the output layer."""

    @abstractmethod
    def output_layer(self, model: Model) -> nn.Linear:
        """The layer producing the class scores."""

    @abstractmethod
    def replace_output_layer(self, model: Model, layer: nn.Linear) -> None:
        """Put ``layer`` where the output layer is."""

    def stages(self, model: Model) -> list[Stage]:
        """Encoder stages, finest first; the last one's output is what :meth:`head` consumes."""
        raise UnsupportedLayerError("", model, f"no encoder stages are known for {self.family}")

    def head(self, model: Model) -> nn.Sequential:
        """The modules after the last stage (pooling, flatten, classifier), shared, not copied."""
        raise UnsupportedLayerError("", model, f"no classifier head is known for {self.family}")

    def stride(self, model: Model) -> int:
        """The coarsest down-sampling factor of the trunk: the last stage's stride."""
        return self.stages(model)[-1].stride


BlockBuilder = Callable[..., Unit]  # (block, path) -> Unit
AdapterType = TypeVar("AdapterType", bound=type[Adapter])

ADAPTERS: dict[type[nn.Module], Adapter[Any]] = {}
BLOCKS: dict[type[nn.Module], BlockBuilder] = {}


def register_adapter(model_type: type[nn.Module]) -> Callable[[AdapterType], AdapterType]:
    """Class decorator: serve ``model_type`` (and subclasses keeping its ``forward``) with this adapter."""

    def decorator(adapter: AdapterType) -> AdapterType:
        _register(ADAPTERS, model_type, adapter())
        return adapter

    return decorator


def register_block(*block_types: type[nn.Module]) -> Callable[[BlockBuilder], BlockBuilder]:
    """Decorator: ``builder(block, path) -> Unit`` unrolls these block types inside any Sequential."""

    def decorator(builder: BlockBuilder) -> BlockBuilder:
        for block_type in block_types:
            _register(BLOCKS, block_type, builder)
        return builder

    return decorator


def _register(table: dict, key: type[nn.Module], value: object) -> None:
    if key in table:
        raise ValueError(f"{key.__qualname__} already has an adapter: {table[key]!r}")
    table[key] = value


def adapter_for(model: nn.Module) -> Adapter[Any]:
    """The adapter of ``model``'s family; ``UnsupportedLayerError`` naming the type and the families if none."""
    registered = _registered_base(model, ADAPTERS)
    if registered is None:
        raise UnsupportedLayerError("", model, "no adapter knows this architecture")
    require_own_forward(model, registered, "")
    return ADAPTERS[registered]


def block_builder(module: nn.Module, path: str) -> BlockBuilder | None:
    """The registered builder of ``module``'s block type, if any."""
    registered = _registered_base(module, BLOCKS)
    if registered is None:
        return None
    require_own_forward(module, registered, path)
    return BLOCKS[registered]


def _registered_base(module: nn.Module, table: dict) -> type[nn.Module] | None:
    return next((base for base in type(module).__mro__ if base in table), None)


def require_own_forward(module: nn.Module, base: type, path: str) -> None:
    """A subclass that overrides ``forward`` (or torchvision's ``_forward_impl``) may compute something else
    than its modules suggest."""
    for method in ("forward", "_forward_impl"):
        if getattr(type(module), method, None) is not getattr(base, method, None):
            raise UnsupportedLayerError(
                path, module, f"it overrides {base.__name__}.{method}, so its structure is unknown"
            )


def supported_families() -> list[str]:
    return [adapter.family for adapter in ADAPTERS.values()]


def torchvision_prefixes() -> tuple[str, ...]:
    """The prefixes of the torchvision builder names the registered adapters serve."""
    return tuple(prefix for adapter in ADAPTERS.values() for prefix in adapter.torchvision_prefixes)


def last_conv_channels(module: nn.Module) -> int:
    """Output width of a stage: that of its last convolution in registration order.

    Holds for VGG blocks, ResNet layers (whose last block has no down-sampling shortcut: a shortcut conv,
    registered after the main path, only appears in a layer's first block) and MobileNetV2 blocks.
    """
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)][-1].out_channels


class UnsupportedLayerError(TypeError):
    """A classifier contains a layer (or is of a family) that unrolled LRP cannot transpose."""

    def __init__(self, path: str, module: nn.Module, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Cannot unroll module '{path or '<root>'}' of type {type(module).__module__}.{type(module).__qualname__}"
            f"{detail}. Supported architecture families: {'; '.join(supported_families())}. Their layers may be: "
            f"{SUPPORTED_LAYERS}. Replace this layer (e.g. GELU -> ReLU, LayerNorm -> BatchNorm2d) or remove it "
            "before unrolling, or add an adapter for the family (unrolled_lrp/lrp/families/)."
        )
