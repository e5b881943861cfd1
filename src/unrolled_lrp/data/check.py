"""Dataset checking: every problem at once, with file paths, before a long training run starts."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from .classes import IGNORE_INDEX, VOC, ClassSet
from .problems import DatasetError, Problem
from .voc import (
    MASK_FOLDER,
    VocLayout,
    annotation_labels,
    find_voc,
    parallel_map,
    pixel_pool_ids,
    read_ids,
    read_mask,
    require_disjoint,
    trainval_ids,
)


def _problems(check: Callable[[], object]) -> list[Problem]:
    """Run a reader step, turning its :class:`DatasetError` into a problem list."""
    try:
        check()
    except DatasetError as error:
        return error.problems
    return []


def _image_size(path: Path, decode: bool) -> tuple[int, int] | Problem:
    """(height, width) of an image, or the problem reading it (full decode catches truncation)."""
    if not path.is_file():
        return Problem(path, "image listed but missing")
    try:
        with Image.open(path) as image:
            if decode:
                image.load()
            return image.height, image.width
    except (OSError, SyntaxError, ValueError) as error:
        return Problem(path, f"unreadable or corrupt image ({error}); re-extract or remove it from the lists")


def _mask_problems(path: Path, size: tuple[int, int] | None, num_classes: int) -> list[Problem]:
    if not path.is_file():
        return [Problem(path, "mask listed but missing")]
    try:
        mask = read_mask(path).numpy()
    except DatasetError as error:
        return error.problems
    except (OSError, SyntaxError, ValueError) as error:
        return [Problem(path, f"unreadable or corrupt mask ({error})")]
    problems = []
    if size is not None and mask.shape != size:
        problems.append(
            Problem(path, f"mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from its image {size[1]}x{size[0]}")
        )
    invalid = sorted(set(np.unique(mask).tolist()) - {*range(num_classes), IGNORE_INDEX})
    if invalid:
        problems.append(
            Problem(
                path,
                f"mask values {invalid} outside the classes 0..{num_classes - 1} and the ignore value {IGNORE_INDEX}",
            )
        )
    return problems


def _labelled_problems(layout: VocLayout, image_id: str, mask: Path, classes: ClassSet, decode: bool) -> list[Problem]:
    size = _image_size(layout.image(image_id), decode)
    if isinstance(size, Problem):
        return [size, *_mask_problems(mask, None, classes.num_classes)]
    return _mask_problems(mask, size, classes.num_classes)


def _image_level_problems(layout: VocLayout, image_id: str, classes: ClassSet, decode: bool) -> list[Problem]:
    size = _image_size(layout.image(image_id), decode)
    problems = [size] if isinstance(size, Problem) else []
    annotation = layout.annotation(image_id)
    if not annotation.is_file():
        return problems + [Problem(annotation, "annotation missing for an image-level training image")]
    return problems + _problems(lambda: annotation_labels(annotation, classes))


def _layout_problems(layout: VocLayout, use_aug: bool) -> list[Problem]:
    """Missing folders and lists; ``Annotations`` is checked per image-level image (fully pixel-labelled sets
    have none)."""
    folders = [layout.images, layout.masks, layout.segmentation_sets]
    lists = [layout.segmentation_sets / "val.txt"]
    if use_aug:
        folders.append(layout.aug_masks)
    else:
        lists.append(layout.segmentation_sets / "train.txt")
    return [Problem(folder, "folder missing") for folder in folders if not folder.is_dir()] + [
        Problem(path, "list file missing") for path in lists if not path.is_file()
    ]


def check_dataset(
    root: str | Path,
    classes: ClassSet = VOC,
    *,
    use_aug: bool = False,
    decode: bool = True,
    mask_folder: str = MASK_FOLDER,
) -> list[Problem]:
    """All problems of a VOC-layout dataset (empty list: usable), each with its file path.

    Checks folders and list files, listed images (present, readable; fully decoded unless
    ``decode=False``), masks of the pixel pool and val (present, same size as the image, values in
    the class range or 255), and annotations of the image-level pool (parse, known class names).
    Masks are read from ``mask_folder`` (``SegmentationClassAug`` for the pixel pool with ``use_aug``).
    """
    try:
        layout = find_voc(root, mask_folder)
    except DatasetError as error:
        return error.problems
    problems = _layout_problems(layout, use_aug)
    if problems:
        return problems
    val = read_ids(layout.segmentation_sets / "val.txt")
    pixel = pixel_pool_ids(layout, set(val), use_aug)
    problems += _problems(lambda: require_disjoint(layout, val, pixel))
    image_level = sorted(set(trainval_ids(layout)) - set(val) - set(pixel))
    if image_level and not layout.annotations.is_dir():
        needed = f"{len(image_level)} image-level training images listed in {layout.main_trainval} need their XML"
        return problems + [Problem(layout.annotations, f"folder missing: {needed}")]
    checks = (
        [partial(_labelled_problems, layout, i, layout.mask(i), classes, decode) for i in val]
        + [partial(_labelled_problems, layout, i, layout.mask(i, aug=use_aug), classes, decode) for i in pixel]
        + [partial(_image_level_problems, layout, i, classes, decode) for i in image_level]
    )
    return problems + [problem for found in parallel_map(lambda check: check(), checks) for problem in found]


def require_valid_dataset(
    root: str | Path,
    classes: ClassSet = VOC,
    *,
    use_aug: bool = False,
    decode: bool = False,
    mask_folder: str = MASK_FOLDER,
) -> None:
    """Raise :class:`DatasetError` listing every problem, so training fails before it starts, not hours in."""
    problems = check_dataset(root, classes, use_aug=use_aug, decode=decode, mask_folder=mask_folder)
    if problems:
        raise DatasetError(problems)
