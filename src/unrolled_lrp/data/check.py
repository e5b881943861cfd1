"""Dataset checking: every problem at once, with file paths, before a long training run starts."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from .classes import IGNORE_INDEX, VOC, ClassSet
from .problems import DatasetError, DatasetWarning, Problem
from .voc import (
    MASK_FOLDER,
    VocItem,
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


#: What checking one image gives: its problems and the classes it contains (as far as they could be read).
Checked = tuple[list[Problem], frozenset[int]]


def _mask_problems(path: Path, size: tuple[int, int] | None, num_classes: int) -> Checked:
    if not path.is_file():
        return [Problem(path, "mask listed but missing")], frozenset()
    try:
        mask = read_mask(path).numpy()
    except DatasetError as error:
        return error.problems, frozenset()
    except (OSError, SyntaxError, ValueError) as error:
        return [Problem(path, f"unreadable or corrupt mask ({error})")], frozenset()
    problems = []
    if size is not None and mask.shape != size:
        problems.append(
            Problem(path, f"mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from its image {size[1]}x{size[0]}")
        )
    values = set(np.unique(mask).tolist())
    invalid = sorted(values - {*range(num_classes), IGNORE_INDEX})
    if invalid:
        problems.append(
            Problem(
                path,
                f"mask values {invalid} outside the classes 0..{num_classes - 1} and the ignore value {IGNORE_INDEX}",
            )
        )
    return problems, frozenset(values & set(range(num_classes)))


def _labelled_problems(layout: VocLayout, image_id: str, mask: Path, classes: ClassSet, decode: bool) -> Checked:
    size = _image_size(layout.image(image_id), decode)
    if isinstance(size, Problem):
        problems, labels = _mask_problems(mask, None, classes.num_classes)
        return [size, *problems], labels
    return _mask_problems(mask, size, classes.num_classes)


def _image_level_problems(layout: VocLayout, image_id: str, classes: ClassSet, decode: bool) -> Checked:
    size = _image_size(layout.image(image_id), decode)
    problems = [size] if isinstance(size, Problem) else []
    annotation = layout.annotation(image_id)
    if not annotation.is_file():
        return problems + [Problem(annotation, "annotation missing for an image-level training image")], frozenset()
    try:
        return problems, annotation_labels(annotation, classes)
    except DatasetError as error:
        return problems + error.problems, frozenset()


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
    checked = parallel_map(lambda check: check(), checks)
    problems += [problem for found, _ in checked for problem in found]
    labels = [found for _, found in checked]
    splits = {
        "val": labels[: len(val)],
        "pixel": labels[len(val) : len(val) + len(pixel)],
        "image_level": labels[len(val) + len(pixel) :],
    }
    _warn_of_absent_classes(layout, classes, splits)
    return problems + _split_problems(layout, classes, use_aug, splits)


def _split_problems(
    layout: VocLayout, classes: ClassSet, use_aug: bool, splits: dict[str, list[frozenset[int]]]
) -> list[Problem]:
    """An empty val or pixel-labelled list, or one whose masks hold no foreground pixel: nothing to evaluate on,
    or nothing to learn to segment (a run would train and report success all the same)."""
    lists = {
        "val": (layout.segmentation_sets / "val.txt", "evaluation"),
        "pixel": (layout.aug_masks if use_aug else layout.segmentation_sets / "train.txt", "segmentation training"),
    }
    problems = []
    for split, (source, purpose) in lists.items():
        found = splits[split]
        if not found:
            problems.append(Problem(source, f"lists no image; {purpose} needs at least one pixel-labelled image"))
        elif not set().union(*found) & set(classes.foreground):
            message = f"no mask of its {len(found)} images has a foreground pixel; {purpose} needs some"
            problems.append(Problem(source, message))
    return problems


def _warn_of_absent_classes(layout: VocLayout, classes: ClassSet, splits: dict[str, list[frozenset[int]]]) -> None:
    """Warn of classes that no training image, or no val image, contains: training can go on, but it cannot
    learn such a class, or evaluation cannot measure it (is the class file the dataset's?)."""
    for split, found in (("training", splits["pixel"] + splits["image_level"]), ("val", splits["val"])):
        present = set().union(*found)
        absent = [classes.names[k] for k in classes.foreground if k not in present]
        if absent and found:
            warnings.warn(
                f"{layout.root}: no {split} image contains the class(es) {', '.join(absent)}",
                DatasetWarning,
                stacklevel=3,
            )


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


def require_training_splits(pixel: Sequence[VocItem], holdout: Sequence[VocItem], classes: ClassSet) -> None:
    """Refuse a regime a segmentation run cannot use: no pixel-labelled training image, an empty hold-out split
    (nothing would select the checkpoint), or either without a foreground pixel."""
    selected = len(pixel) + len(holdout)
    if not holdout:
        raise ValueError(
            f"data.num_pixel: {selected} pixel-labelled image(s) selected leave none for the hold-out split that "
            "selects the checkpoint (it takes at least one and leaves one for training); select at least 2"
        )
    for split, items in (("training", pixel), ("hold-out", holdout)):
        if not any(item.labels & set(classes.foreground) for item in items):
            raise ValueError(
                f"the {split} split ({', '.join(item.id for item in items)}) has no foreground pixel: there is "
                "nothing to learn or to select on; change data.seed, data.num_pixel or the hold-out size"
            )
