"""A small synthetic dataset in exactly the PASCAL VOC 2012 layout, for tests, demos and CI.

Each foreground class is a distinctive shape × colour × texture so a small CNN can learn it.
Scenes hold 1-3 objects on textured backgrounds, with varying aspect ratios, occlusion, a
255 band along every label boundary, occasional "difficult" objects painted 255 entirely
(as VOC does), skewed class frequencies, JPEG images, palettised PNG masks and XML annotations.
Every foreground class is the front object of at least one pixel-labelled training image.
"""

from __future__ import annotations

import colorsys
import math
import random
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from .classes import IGNORE_INDEX, VOC, ClassSet
from .options import NonNegativeInt, PositiveInt, Seed, check_ranges
from .voc import VocLayout, write_ids

ShapeFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SHAPES: tuple[ShapeFn, ...] = (
    lambda dy, dx: dy**2 + dx**2 < 1,  # disk
    lambda dy, dx: torch.maximum(dy.abs(), dx.abs()) < 0.8,  # square
    lambda dy, dx: (dy < 0.8) & (dx.abs() < (dy + 1) * 0.55),  # triangle
    lambda dy, dx: ((dy**2 + dx**2) < 1) & ((dy**2 + dx**2) > 0.3),  # ring
    lambda dy, dx: ((dx.abs() < 0.3) & (dy.abs() < 1)) | ((dy.abs() < 0.3) & (dx.abs() < 1)),  # cross
    lambda dy, dx: dy.abs() + dx.abs() < 1,  # diamond
)
DIFFICULT_P = 0.1
"""Chance that a non-front object is 'difficult': annotated as such and painted 255 in the mask."""


@dataclass(frozen=True)
class _Object:
    cls: int
    difficult: bool


def _texture(cls: int, yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    """Per-class brightness pattern: solid, stripes or checker (by class), in [0.5, 1]."""
    kind = (cls - 1) // len(SHAPES) % 3
    if kind == 1:
        return 0.5 + 0.5 * (torch.sin(xx * math.pi / 2) > 0).float()
    if kind == 2:
        return 0.5 + 0.5 * ((yy // 3 + xx // 3) % 2)
    return torch.ones_like(yy)


def _colour(cls: int, num_classes: int) -> torch.Tensor:
    return torch.tensor(colorsys.hsv_to_rgb((cls - 1) / (num_classes - 1), 0.85, 0.95))


def _background(height: int, width: int, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
    """Muted colour with a random wave pattern and noise (3×H×W in [0, 1])."""
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    base = torch.tensor(colorsys.hsv_to_rgb(rng.random(), 0.2, rng.uniform(0.3, 0.7))).view(3, 1, 1)
    angle, period = rng.uniform(0, math.pi), rng.uniform(6, 20)
    wave = 0.12 * torch.sin((yy * math.sin(angle) + xx * math.cos(angle)) * 2 * math.pi / period)
    return base + wave + 0.05 * torch.randn(3, height, width, generator=gen)


def _boundary(labels: torch.Tensor) -> torch.Tensor:
    """Pixels whose 3×3 neighbourhood holds more than one label: VOC's thin void band."""
    grid = labels[None, None].float()
    pool = torch.nn.functional.max_pool2d
    return (pool(grid, 3, 1, 1) != -pool(-grid, 3, 1, 1))[0, 0]


def _render(
    height: int, width: int, objects: list[_Object], num_classes: int, rng: random.Random, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Paint objects back to front; returns uint8 image, uint8 mask (255 band/difficult), instance map (-1 none)."""
    image = _background(height, width, rng, gen)
    instances = torch.full((height, width), -1)
    yy, xx = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    for k, obj in enumerate(objects):
        radius = rng.uniform(0.2, 0.35) * min(height, width)
        cy, cx = rng.uniform(0.15, 0.85) * height, rng.uniform(0.15, 0.85) * width
        inside = SHAPES[(obj.cls - 1) % len(SHAPES)]((yy - cy) / radius, (xx - cx) / radius)
        paint = _colour(obj.cls, num_classes).view(3, 1, 1) * _texture(obj.cls, yy, xx)
        image = torch.where(inside, paint + 0.04 * torch.randn(3, height, width, generator=gen), image)
        instances[inside] = k
    classes = torch.tensor([0] + [obj.cls for obj in objects])
    mask = classes[instances + 1]
    difficult = torch.tensor([k for k, obj in enumerate(objects) if obj.difficult], dtype=torch.long)
    void = _boundary(mask) | torch.isin(instances, difficult)
    mask[void] = IGNORE_INDEX
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), mask.to(torch.uint8), instances


def _annotation(
    image_id: str,
    objects: list[_Object],
    instances: torch.Tensor,
    mask: torch.Tensor,
    classes: ClassSet,
    segmented: bool,
) -> ET.ElementTree:
    """VOC XML for the objects still visible (difficult ones included, flagged)."""
    height, width = mask.shape
    root = ET.Element("annotation")
    for tag, text in (("folder", "VOC2012"), ("filename", f"{image_id}.jpg"), ("segmented", str(int(segmented)))):
        ET.SubElement(root, tag).text = text
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for k, obj in enumerate(objects):
        visible = (instances == k) & ((mask != IGNORE_INDEX) | obj.difficult)
        if not visible.any():
            continue
        ys, xs = visible.nonzero(as_tuple=True)
        box = {"xmin": xs.min() + 1, "ymin": ys.min() + 1, "xmax": xs.max() + 1, "ymax": ys.max() + 1}
        element = ET.SubElement(root, "object")
        truncated = box["xmin"] == 1 or box["ymin"] == 1 or box["xmax"] == width or box["ymax"] == height
        for tag, text in (
            ("name", classes.names[obj.cls]),
            ("pose", "Unspecified"),
            ("truncated", str(int(truncated))),
            ("difficult", str(int(obj.difficult))),
        ):
            ET.SubElement(element, tag).text = text
        bndbox = ET.SubElement(element, "bndbox")
        for tag, coordinate in box.items():
            ET.SubElement(bndbox, tag).text = str(int(coordinate))
    return ET.ElementTree(root)


def _scene_objects(front: int, weights: list[float], rng: random.Random) -> list[_Object]:
    """1-3 objects drawn with skewed class frequencies; ``front`` (drawn last) is never difficult."""
    classes = rng.choices(range(1, len(weights) + 1), weights=weights, k=rng.randint(0, 2))
    return [_Object(cls, rng.random() < DIFFICULT_P) for cls in classes] + [_Object(front, False)]


def _write_image(
    layout: VocLayout,
    image_id: str,
    objects: list[_Object],
    classes: ClassSet,
    image_size: int,
    palette: list[int] | None,
    rng: random.Random,
    gen: torch.Generator,
) -> None:
    """Write JPEG, XML and (with a palette, for pixel-labelled images) the palettised PNG mask."""
    short = rng.choice([image_size, round(0.75 * image_size)])
    height, width = (image_size, short) if rng.random() < 0.5 else (short, image_size)
    image, mask, instances = _render(height, width, objects, classes.num_classes, rng, gen)
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(layout.image(image_id), quality=90)
    _annotation(image_id, objects, instances, mask, classes, palette is not None).write(layout.annotation(image_id))
    if palette is not None:
        png = Image.fromarray(mask.numpy().astype(np.uint8), mode="P")
        png.putpalette(palette)
        png.save(layout.mask(image_id))


@contextmanager
def _single_thread() -> Iterator[None]:
    """Tiny tensors: intra-op thread start-up costs far more than the work (~100x on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class SynthConfig:
    """A synthetic VOC-layout dataset: the one set of its defaults, taken by ``ulrp data synth``, grids and the demo.

    Args:
        num_pixel_train: Pixel-labelled training images (the pool the regimes draw from; at least the number of
            foreground classes, so that each is the front object of one).
        num_val: Evaluation images (segmentation val list).
        num_image_level: Training images with image-level labels only (XML, no mask).
        image_size: Long side of the images in pixels (the short side is this or 3/4 of it).
        seed: Seed of the dataset: the same seed writes the same files.
        classes: Class names, background first, or a YAML class file (``classes: [...]``, optional ``palette``);
            None: the 21 VOC classes.
    """

    num_pixel_train: PositiveInt = 40
    num_val: PositiveInt = 30
    num_image_level: NonNegativeInt = 150
    image_size: PositiveInt = 64
    seed: Seed = 0
    classes: list[str] | Path | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "synth")
        foreground = len(self.class_set().foreground)  # reading the classes checks them
        if self.num_pixel_train < foreground:
            raise ValueError(
                f"synth.num_pixel_train must be at least the {foreground} foreground classes (one image each), "
                f"got {self.num_pixel_train}"
            )

    def class_set(self) -> ClassSet:
        """The classes to draw."""
        if self.classes is None:
            return VOC
        if isinstance(self.classes, (str, Path)):
            return ClassSet.from_yaml(self.classes)
        return ClassSet.from_names(list(self.classes))


def write_synthetic_voc(root: str | Path, synth: SynthConfig = SynthConfig()) -> Path:
    """Write ``ROOT/VOCdevkit/VOC2012`` (plus ``ROOT/classes.yaml``) and return the VOC2012 folder.

    Deterministic from ``synth.seed``.
    """
    classes = synth.class_set()
    num_pixel_train, num_val, num_image_level = synth.num_pixel_train, synth.num_val, synth.num_image_level
    image_size, seed = synth.image_size, synth.seed
    num_fg = len(classes.foreground)
    rng, gen, palette = random.Random(seed), torch.Generator().manual_seed(seed), classes.png_palette()
    layout = VocLayout(Path(root) / "VOCdevkit" / "VOC2012")
    for folder in (
        layout.images,
        layout.annotations,
        layout.masks,
        layout.segmentation_sets,
        layout.main_trainval.parent,
    ):
        folder.mkdir(parents=True, exist_ok=True)
    weights = [1 / (rank + 1) ** 0.7 for rank in rng.sample(range(num_fg), num_fg)]  # skewed, like VOC
    fronts = rng.sample(range(1, num_fg + 1), num_fg)
    fronts += rng.choices(range(1, num_fg + 1), weights=weights, k=num_pixel_train + num_val + num_image_level - num_fg)
    roles = ["train"] * num_pixel_train + ["val"] * num_val + ["image"] * num_image_level
    ids = [f"2012_{n:06d}" for n in rng.sample(range(1, 10 * len(roles)), len(roles))]
    with _single_thread():
        for image_id, role, front in zip(ids, roles, fronts):
            objects = _scene_objects(front, weights, rng)
            _write_image(layout, image_id, objects, classes, image_size, None if role == "image" else palette, rng, gen)
    pools = {role: sorted(i for i, r in zip(ids, roles) if r == role) for role in ("train", "val")}
    write_ids(layout.segmentation_sets / "train.txt", pools["train"])
    write_ids(layout.segmentation_sets / "val.txt", pools["val"])
    write_ids(layout.segmentation_sets / "trainval.txt", sorted(pools["train"] + pools["val"]))
    write_ids(layout.main_trainval, sorted(ids))
    config = {"classes": list(classes.names), "palette": [list(colour) for colour in classes.palette]}
    (Path(root) / "classes.yaml").write_text(yaml.safe_dump(config, default_flow_style=None))
    return layout.root
