"""Option types that state their range, for every settings class and command: jsonargparse checks them when it
parses a command line or a YAML file (naming the key, before anything runs), and :func:`check_ranges` applies the
same annotations to settings built in Python. They live in ``data``, the lowest layer whose settings use them.
"""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin, get_type_hints

from jsonargparse.typing import (
    ClosedUnitInterval,
    NonNegativeFloat,
    NonNegativeInt,
    OpenUnitInterval,
    PositiveFloat,
    PositiveInt,
    restricted_number_type,
    restricted_string_type,
)

#: A seed: 0 <= seed < 2**32, so that the per-step seeds derived from it fit torch's 64-bit generator seed.
Seed = restricted_number_type("Seed", int, [(">=", 0), ("<", 2**32)], docstring="int restricted to 0 <= v < 2**32")

#: A torch device: cpu, cuda, cuda:N or mps.
Device = restricted_string_type("Device", r"^(cpu|cuda(:\d+)?|mps)$", docstring="cpu, cuda, cuda:N or mps")

#: Each range type and how an error message states it.
RANGES: dict[type, str] = {
    PositiveInt: "a positive integer",
    NonNegativeInt: "an integer >= 0",
    PositiveFloat: "> 0",
    NonNegativeFloat: ">= 0",
    ClosedUnitInterval: "in [0, 1]",
    OpenUnitInterval: "in (0, 1), both ends excluded",
    Seed: "an integer in [0, 2**32)",
    Device: "cpu, cuda, cuda:N or mps",
}

__all__ = [
    "ClosedUnitInterval",
    "Device",
    "NonNegativeFloat",
    "NonNegativeInt",
    "OpenUnitInterval",
    "PositiveFloat",
    "PositiveInt",
    "Seed",
    "check_ranges",
]


def check_ranges(settings: object, prefix: str) -> None:
    """Raise a ValueError naming ``{prefix}.{field}`` for the first field of the frozen dataclass ``settings`` whose
    value is outside the range of its annotation (a type of :data:`RANGES`, alone, optional, or in a list or
    tuple); keep plain ``int``, ``float`` and ``str`` values, not the range types that jsonargparse parses them into
    (``torch.load(weights_only=True)`` refuses those in a checkpoint, e.g. a learning rate in an optimizer state)."""
    for name, hint in get_type_hints(type(settings)).items():
        object.__setattr__(settings, name, _checked(getattr(settings, name), hint, f"{prefix}.{name}"))


def _checked(value: Any, hint: Any, name: str) -> Any:
    """``value`` checked against ``hint``, range types replaced by their plain base type."""
    origin, args = get_origin(hint), get_args(hint)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        ranged = [arg for arg in args if _has_range(arg)]
        if not ranged:
            return value
        [kind] = ranged  # no setting has a union of two ranged types: which one a value is meant for is unclear
        return _checked(value, kind, name)
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        hints = args if origin is tuple else args * len(value)
        return type(value)(_checked(item, item_hint, name) for item, item_hint in zip(value, hints))
    if hint not in RANGES:
        return value
    try:
        hint(value)
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be {RANGES[hint]}, got {value!r}") from None
    return next(base for base in (int, float, str) if issubclass(hint, base))(value)


def _has_range(hint: Any) -> bool:
    """Whether ``hint`` is a range type or holds one (``PositiveInt | None``, ``list[Seed]``)."""
    return hint in RANGES or any(_has_range(arg) for arg in get_args(hint))
