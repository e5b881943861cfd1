"""``ulrp data``: thin command-line wrappers around :mod:`unrolled_lrp.data`."""

from __future__ import annotations

from pathlib import Path

from unrolled_lrp.data import VOC, ClassSet, SynthConfig, check_dataset, write_synthetic_voc
from unrolled_lrp.data.download import SBD_ARCHIVE, VOC2012_ARCHIVE, Archive, add_sbd, download_voc
from unrolled_lrp.data.voc import MASK_FOLDER


def _class_set(classes: Path | None) -> ClassSet:
    return VOC if classes is None else ClassSet.from_yaml(classes)


def synth(root: Path, synth: SynthConfig = SynthConfig()) -> None:
    """Write a small synthetic dataset in the PASCAL VOC 2012 layout (for demos and tests).

    Args:
        root: Output folder; the dataset goes to ROOT/VOCdevkit/VOC2012, the class list to ROOT/classes.yaml.
        synth: The dataset's size, classes (``--synth.classes classes.yaml`` or a list of names) and seed.
    """
    voc = write_synthetic_voc(root, synth)
    print(f"wrote {synth.num_pixel_train + synth.num_val + synth.num_image_level} images to {voc}")


def check(
    root: Path,
    classes: Path | None = None,
    use_aug: bool = False,
    decode: bool = True,
    mask_folder: str = MASK_FOLDER,
) -> int:
    """Check a VOC-layout dataset and list every problem found, with file paths.

    Args:
        root: Dataset folder: ROOT containing VOCdevkit/VOC2012, or the VOC2012 folder itself.
        classes: YAML class config (classes: [background, ...]); default: the 21 VOC classes.
        use_aug: Check the SegmentationClassAug masks that training with use_aug=True reads.
        decode: Fully decode every image (catches truncated files; slower on full VOC).
        mask_folder: Folder of the pixel labels inside VOC2012, e.g. SegmentationClassFull for 11-class CamVid.

    Returns:
        0 if the dataset is usable, 1 otherwise (the exit status).
    """
    problems = check_dataset(root, _class_set(classes), use_aug=use_aug, decode=decode, mask_folder=mask_folder)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {root}" if problems else f"{root}: OK")
    return int(bool(problems))


def download(
    root: Path,
    sbd: bool = False,
    voc_url: str = VOC2012_ARCHIVE.url,
    voc_md5: str = VOC2012_ARCHIVE.md5,
    sbd_url: str = SBD_ARCHIVE.url,
    sbd_md5: str = SBD_ARCHIVE.md5,
    keep_archives: bool = False,
) -> None:
    """Download PASCAL VOC 2012 (2 GB) into ROOT/VOCdevkit/VOC2012, checking its MD5 checksum (needs internet).

    Args:
        root: Output folder (then train with --data.root ROOT).
        sbd: Also fetch SBD (1.4 GB, needs scipy) and build SegmentationClassAug + train_aug.txt (--data.use_aug true).
        voc_url: VOC 2012 trainval tar (torchvision's URL; a mirror with the same file works).
        voc_md5: Its MD5 checksum.
        sbd_url: SBD benchmark.tgz (torchvision's URL).
        sbd_md5: Its MD5 checksum.
        keep_archives: Keep the downloaded archives (and SBD's unpacked files) after unpacking.
    """
    voc = download_voc(root, Archive(voc_url, voc_md5, VOC2012_ARCHIVE.filename), keep_archive=keep_archives)
    print(f"VOC 2012 in {voc.root}")
    if sbd:
        listed = add_sbd(root, Archive(sbd_url, sbd_md5, SBD_ARCHIVE.filename), keep_download=keep_archives)
        print(f"SBD masks in {voc.aug_masks}, {len(listed.read_text().split())} training images in {listed}")
