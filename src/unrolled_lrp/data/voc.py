"""Reader for the PASCAL VOC 2012 folder layout and the three pools the experiments use.

* pixel pool: ``ImageSets/Segmentation/train.txt`` (1464 images), labels from the masks in
  ``SegmentationClass`` (or another folder: ``mask_folder``, e.g. CamVid's ``SegmentationClassFull``);
  with ``use_aug=True`` the ``SegmentationClassAug`` masks instead (``train_aug.txt`` or every
  mask there), never silently;
* evaluation: ``ImageSets/Segmentation/val.txt`` (1449 images), never used for training;
* image-level pool: the rest of VOC2012 trainval (``ImageSets/Main/trainval.txt``, else every
  ``Annotations/*.xml``), labels from the XML ``<object><name>`` tags. Empty for fully pixel-labelled
  datasets, which need no ``Annotations`` folder.

A background class (index 0, see :class:`~.classes.ClassSet`) is present in every image; mask value 255
stays 255 (ignore index).
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors

from .classes import IGNORE_INDEX, VOC, ClassSet
from .problems import DatasetError

T = TypeVar("T")
R = TypeVar("R")


#: VOC's folder of pixel labels: the default ``mask_folder`` everywhere a dataset is read.
MASK_FOLDER = "SegmentationClass"


@dataclass(frozen=True)
class VocLayout:
    """Paths inside a ``VOC2012`` folder; ``mask_folder`` names the folder of the pixel labels."""

    root: Path
    mask_folder: str = MASK_FOLDER

    @property
    def images(self) -> Path:
        return self.root / "JPEGImages"

    @property
    def annotations(self) -> Path:
        return self.root / "Annotations"

    @property
    def masks(self) -> Path:
        return self.root / self.mask_folder

    @property
    def aug_masks(self) -> Path:
        return self.root / "SegmentationClassAug"

    @property
    def segmentation_sets(self) -> Path:
        return self.root / "ImageSets" / "Segmentation"

    @property
    def main_trainval(self) -> Path:
        return self.root / "ImageSets" / "Main" / "trainval.txt"

    def image(self, image_id: str) -> Path:
        return self.images / f"{image_id}.jpg"

    def annotation(self, image_id: str) -> Path:
        return self.annotations / f"{image_id}.xml"

    def mask(self, image_id: str, *, aug: bool = False) -> Path:
        return (self.aug_masks if aug else self.masks) / f"{image_id}.png"


def find_voc(root: str | Path, mask_folder: str = MASK_FOLDER) -> VocLayout:
    """Locate ``VOC2012`` from ``ROOT`` (``ROOT/VOCdevkit/VOC2012``) or from ``VOC2012`` itself."""
    root = Path(root)
    for candidate in (root / "VOCdevkit" / "VOC2012", root):
        if (candidate / "ImageSets").is_dir() or (candidate / "JPEGImages").is_dir():
            return VocLayout(candidate, mask_folder)
    raise DatasetError.single(
        root,
        "no VOC2012 folder found: point at ROOT containing VOCdevkit/VOC2012, "
        "or at the VOC2012 folder itself (with JPEGImages/ and ImageSets/)",
    )


def read_ids(path: Path) -> list[str]:
    """Image ids of a VOC list file (first token per non-empty line)."""
    if not path.is_file():
        raise DatasetError.single(path, "list file missing")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def write_ids(path: Path, ids: Iterable[str]) -> Path:
    """Write one id per line (the format of VOC list files and regime files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{image_id}\n" for image_id in ids))
    return path


def read_image(path: Path) -> tv_tensors.Image:
    """RGB uint8 image (3×H×W), decoded with PIL (torchvision.io decoding is deprecated since 0.29)."""
    with Image.open(path) as image:
        return tv_tensors.Image(image.convert("RGB"))


def read_mask(path: Path) -> tv_tensors.Mask:
    """Class-index mask (H×W int64) from a palettised or greyscale PNG; 255 stays 255."""
    with Image.open(path) as png:
        if png.mode not in ("P", "L"):
            raise DatasetError.single(
                path,
                f"mask has PIL mode {png.mode}, expected class indices "
                "(palettised 'P' or greyscale 'L' PNG), not colours",
            )
        return tv_tensors.Mask(torch.from_numpy(np.array(png, dtype=np.int64)))


def mask_labels(path: Path, classes: ClassSet) -> frozenset[int]:
    """Classes present in a mask (the background class, if any, always included; 255 excluded)."""
    values = set(np.unique(read_mask(path).numpy()).tolist()) - {IGNORE_INDEX}
    invalid = sorted(value for value in values if not 0 <= value < classes.num_classes)
    if invalid:
        message = f"mask values {invalid} outside 0..{classes.num_classes - 1} (and not {IGNORE_INDEX})"
        raise DatasetError.single(path, message)
    return frozenset(values) | classes.background


def annotation_names(path: Path) -> list[str]:
    """Object class names of a VOC XML annotation."""
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError) as error:
        raise DatasetError.single(path, f"annotation cannot be parsed: {error}") from None
    return [(obj.findtext("name") or "").strip() for obj in tree.getroot().iter("object")]


def annotation_labels(path: Path, classes: ClassSet) -> frozenset[int]:
    """Classes named in a VOC XML annotation (the background class, if any, always included)."""
    names = annotation_names(path)
    unknown = sorted(set(names) - set(classes.names))
    if unknown:
        raise DatasetError.single(
            path,
            f"unknown class name(s) {unknown}; known: {', '.join(classes.names)} "
            "(use a class config for custom datasets)",
        )
    return frozenset(classes.index(name) for name in names) | classes.background


@dataclass(frozen=True)
class VocItem:
    """One image: where its files are and which classes it contains (the background class included)."""

    id: str
    image: Path
    mask: Path | None
    labels: frozenset[int]


@dataclass(frozen=True)
class VocPools:
    """Disjoint pools: pixel-labelled training, image-level training, and evaluation (val)."""

    pixel: tuple[VocItem, ...]
    image_level: tuple[VocItem, ...]
    val: tuple[VocItem, ...]

    def pixel_labels(self) -> dict[str, frozenset[int]]:
        """``id -> classes`` of the pixel pool, the input of regime sampling."""
        return {item.id: item.labels for item in self.pixel}


def parallel_map(function: Callable[[T], R], inputs: Sequence[T]) -> list[R]:
    """Map over files with threads (decoding releases the GIL), preserving order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(function, inputs))


def pixel_pool_ids(layout: VocLayout, val: set[str], use_aug: bool) -> list[str]:
    """Ids of the pixel-labelled pool (see module docstring)."""
    if not use_aug:
        return read_ids(layout.segmentation_sets / "train.txt")
    listed = layout.segmentation_sets / "train_aug.txt"
    if listed.is_file():
        ids = read_ids(listed)
    elif layout.aug_masks.is_dir():
        ids = sorted(path.stem for path in layout.aug_masks.glob("*.png"))
    else:
        raise DatasetError.single(
            layout.aug_masks,
            "use_aug=True but SegmentationClassAug/ is missing: "
            "unpack the SBD-augmented masks there or set use_aug=False",
        )
    return [image_id for image_id in ids if image_id not in val]


def require_disjoint(layout: VocLayout, val: Sequence[str], pixel: Sequence[str]) -> None:
    """Refuse lists that would train on evaluation images."""
    overlap = sorted(set(val) & set(pixel))
    if overlap:
        raise DatasetError.single(
            layout.segmentation_sets / "train.txt",
            f"{len(overlap)} val image(s) also "
            f"listed for training, e.g. {overlap[:5]}; remove them from the training list",
        )


def trainval_ids(layout: VocLayout) -> list[str]:
    """All VOC2012 trainval ids: ``ImageSets/Main/trainval.txt``, else every annotation file."""
    if layout.main_trainval.is_file():
        return read_ids(layout.main_trainval)
    return sorted(path.stem for path in layout.annotations.glob("*.xml"))


def masked_items(layout: VocLayout, ids: Sequence[str], classes: ClassSet, aug: bool = False) -> tuple[VocItem, ...]:
    """Items with masks, labels read from the masks."""
    masks = [layout.mask(image_id, aug=aug) for image_id in ids]
    labels = parallel_map(lambda path: mask_labels(path, classes), masks)
    return tuple(VocItem(i, layout.image(i), m, lab) for i, m, lab in zip(ids, masks, labels))


def load_voc(
    root: str | Path, classes: ClassSet = VOC, *, use_aug: bool = False, mask_folder: str = MASK_FOLDER
) -> VocPools:
    """Read the three pools of a VOC-layout dataset (run :func:`check_dataset` for a full diagnosis)."""
    layout = find_voc(root, mask_folder)
    val_ids = read_ids(layout.segmentation_sets / "val.txt")
    val_set = set(val_ids)
    pixel_ids = pixel_pool_ids(layout, val_set, use_aug)
    require_disjoint(layout, val_ids, pixel_ids)
    excluded = val_set | set(pixel_ids)
    image_ids = [image_id for image_id in trainval_ids(layout) if image_id not in excluded]
    image_labels = parallel_map(lambda i: annotation_labels(layout.annotation(i), classes), image_ids)
    return VocPools(
        pixel=masked_items(layout, pixel_ids, classes, aug=use_aug),
        image_level=tuple(VocItem(i, layout.image(i), None, lab) for i, lab in zip(image_ids, image_labels)),
        val=masked_items(layout, val_ids, classes),
    )


def split_holdout(
    items: Sequence[T], *, fraction: float = 0.1, count: int | None = None, seed: int = 0
) -> tuple[list[T], list[T]]:
    """Split ``(train, holdout)`` for model selection, reproducibly from ``seed``.

    ``count`` (if given) overrides ``fraction``. With at least two items the hold-out gets at
    least one and leaves at least one for training; a single item is never held out.
    """
    if not 0 <= fraction < 1 or (count is not None and count < 0):
        raise ValueError(f"need 0 <= fraction < 1 and count >= 0, got fraction={fraction}, count={count}")
    size = round(fraction * len(items)) if count is None else count
    size = min(max(size, 1), len(items) - 1) if len(items) >= 2 else 0
    held = set(random.Random(seed).sample(range(len(items)), size))
    return (
        [item for k, item in enumerate(items) if k not in held],
        [item for k, item in enumerate(items) if k in held],
    )
