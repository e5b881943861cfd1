"""``ulrp data``: thin command-line wrappers around :mod:`unrolled_lrp.data`."""

from __future__ import annotations

from pathlib import Path

from unrolled_lrp.data import VOC, ClassSet, check_dataset, write_synthetic_voc


def _class_set(classes: Path | None) -> ClassSet:
    return VOC if classes is None else ClassSet.from_yaml(classes)


def synth(
    root: Path,
    num_pixel_train: int = 40,
    num_val: int = 20,
    num_image_level: int = 60,
    image_size: int = 96,
    classes: Path | None = None,
    seed: int = 0,
) -> None:
    """Write a small synthetic dataset in the PASCAL VOC 2012 layout (for demos and tests).

    Args:
        root: Output folder; the dataset goes to ROOT/VOCdevkit/VOC2012, the class list to ROOT/classes.yaml.
        num_pixel_train: Pixel-labelled training images (at least the number of foreground classes).
        num_val: Evaluation images (segmentation val list).
        num_image_level: Training images with image-level labels only (XML, no mask).
        image_size: Long side of the images in pixels (the short side is this or 3/4 of it).
        classes: YAML class config (classes: [background, ...]); default: the 21 VOC classes.
        seed: Random seed; the same seed writes the same files.
    """
    voc = write_synthetic_voc(
        root,
        num_pixel_train=num_pixel_train,
        num_val=num_val,
        num_image_level=num_image_level,
        image_size=image_size,
        seed=seed,
        classes=_class_set(classes),
    )
    print(f"wrote {num_pixel_train + num_val + num_image_level} images to {voc}")


def check(root: Path, classes: Path | None = None, use_aug: bool = False, decode: bool = True) -> int:
    """Check a VOC-layout dataset and list every problem found, with file paths.

    Args:
        root: Dataset folder: ROOT containing VOCdevkit/VOC2012, or the VOC2012 folder itself.
        classes: YAML class config (classes: [background, ...]); default: the 21 VOC classes.
        use_aug: Check the SegmentationClassAug masks that training with use_aug=True reads.
        decode: Fully decode every image (catches truncated files; slower on full VOC).

    Returns:
        0 if the dataset is usable, 1 otherwise (the exit status).
    """
    problems = check_dataset(root, _class_set(classes), use_aug=use_aug, decode=decode)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {root}" if problems else f"{root}: OK")
    return int(bool(problems))
