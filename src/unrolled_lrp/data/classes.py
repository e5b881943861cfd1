"""Class names and colour palettes: the single source of truth for label indices.

:data:`IGNORE_INDEX` (255) marks void/boundary pixels, as in PASCAL VOC. A class list that starts with
``background`` (VOC) has a background class at index 0: it is in every image, so it is not an image label
the classifier learns. Fully labelled sets without one (11-class CamVid, Cityscapes-like) simply list their
classes; then every class is an image label. Custom datasets describe their classes in a small YAML file::

    classes: [background, cat, dog]
    palette: [[0, 0, 0], [128, 0, 0], [0, 128, 0]]   # optional, VOC colours otherwise
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

IGNORE_INDEX = 255
"""Mask value for void/boundary pixels; kept as is so losses and metrics can ignore it."""

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

Colour = tuple[int, int, int]


def voc_palette(n: int = 256) -> tuple[Colour, ...]:
    """The VOC colour map (bit-interleaved index colours) for indices ``0..n-1``.

    This is how the official devkit colours ``SegmentationClass`` PNGs; index 255 is (224, 224, 192).
    """
    colours = []
    for index in range(n):
        rgb, value = [0, 0, 0], index
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        colours.append((rgb[0], rgb[1], rgb[2]))
    return tuple(colours)


@dataclass(frozen=True)
class ClassSet:
    """Names and display colours of a dataset's classes (index 0 = background if it is named so)."""

    names: tuple[str, ...]
    palette: tuple[Colour, ...]

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise ValueError(f"class list must name at least two classes, got {list(self.names)}")
        if "background" in self.names[1:]:
            raise ValueError(f"'background' must be the first class (index 0) or absent, got {list(self.names)}")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"class names must be unique, got {list(self.names)}")
        if len(self.names) > IGNORE_INDEX:
            raise ValueError(f"at most {IGNORE_INDEX} classes fit next to the ignore index {IGNORE_INDEX}")
        if len(self.palette) != len(self.names):
            raise ValueError(f"palette has {len(self.palette)} colours for {len(self.names)} classes")

    @property
    def num_classes(self) -> int:
        """Number of classes including background."""
        return len(self.names)

    @property
    def has_background(self) -> bool:
        """Whether index 0 is a background class (present in every image, hence not an image label)."""
        return self.names[0] == "background"

    @property
    def background(self) -> frozenset[int]:
        """``{0}`` with a background class, else empty: the indices every image contains by definition."""
        return frozenset({0}) if self.has_background else frozenset()

    @property
    def foreground(self) -> range:
        """Indices of the classes that are image labels: all but the background, every class without one."""
        return range(1 if self.has_background else 0, self.num_classes)

    def index(self, name: str) -> int:
        """Index of a class name; ``KeyError`` naming the known classes if unknown."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown class {name!r}; known classes: {', '.join(self.names)}") from None

    def png_palette(self) -> list[int]:
        """Flat 768-entry palette for palettised PNGs: class colours, VOC colours elsewhere (255 included)."""
        colours = list(self.palette) + list(voc_palette()[self.num_classes :])
        return [value for colour in colours for value in colour]

    @classmethod
    def from_names(cls, names: list[str] | tuple[str, ...]) -> ClassSet:
        """Class set with VOC colours for the given names."""
        return cls(tuple(names), voc_palette(len(names)))

    @classmethod
    def from_yaml(cls, path: str | Path) -> ClassSet:
        """Read ``classes: [...]`` and optional ``palette: [[r, g, b], ...]`` from a YAML file."""
        try:
            config = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
        if not isinstance(config, dict) or not isinstance(config.get("classes"), list):
            raise ValueError(
                f"{path}: expected a mapping with a 'classes' list, e.g. 'classes: [background, cat, dog]'"
            )
        names = tuple(str(name) for name in config["classes"])
        if "palette" not in config:
            return cls.from_names(names)
        try:
            return cls(names, tuple((int(r), int(g), int(b)) for r, g, b in config["palette"]))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: invalid palette ({error}); give one [r, g, b] per class") from None


VOC = ClassSet.from_names(VOC_CLASSES)
"""The 21 PASCAL VOC classes with the official palette."""
