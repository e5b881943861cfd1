"""Fetch PASCAL VOC 2012 (and optionally the SBD masks) for users with internet access.

Downloads go through torchvision: the archive URLs and MD5 checksums are torchvision's own
(``torchvision.datasets.voc.DATASET_YEAR_DICT`` and :class:`torchvision.datasets.SBDataset`), the transfer and the
checksum test are its ``download_and_extract_archive``, and the SBD masks are read by ``SBDataset``. A mirror
(or a test server) can stand in for either URL; the checksum is still required.

With SBD the result is the usual *train_aug* setup that ``use_aug=True`` reads: ``SegmentationClassAug/`` holds a
class-index PNG for every image of SBD train+val and VOC ``train`` (VOC's own masks where they exist, SBD's
elsewhere), and ``ImageSets/Segmentation/train_aug.txt`` lists them without any VOC ``val`` image (10582 images
for the real archives).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from torchvision.datasets import SBDataset, VOCSegmentation
from torchvision.datasets.utils import download_and_extract_archive
from torchvision.datasets.voc import DATASET_YEAR_DICT

from .classes import VOC
from .problems import DatasetError, Problem
from .voc import VocLayout, find_voc, read_ids, write_ids


@dataclass(frozen=True)
class Archive:
    """Where an archive comes from and the MD5 checksum it must have."""

    url: str
    md5: str
    filename: str


VOC2012_ARCHIVE = Archive(
    DATASET_YEAR_DICT["2012"]["url"], DATASET_YEAR_DICT["2012"]["md5"], DATASET_YEAR_DICT["2012"]["filename"]
)
"""torchvision's VOCtrainval_11-May-2012.tar (2 GB)."""

SBD_ARCHIVE = Archive(SBDataset.url, SBDataset.md5, SBDataset.filename)
"""torchvision's SBD benchmark.tgz (1.4 GB; needs scipy to read its .mat masks)."""


@contextmanager
def _reported(archive: Archive, path: Path) -> Iterator[None]:
    """Turn a failed transfer, a wrong checksum (torchvision's "File not found or corrupted.") or missing scipy
    into one :class:`DatasetError`; a bad download is removed so that nothing corrupt is left behind."""
    try:
        yield
    except OSError as error:  # urllib.error.URLError included
        path.unlink(missing_ok=True)
        message = f"download from {archive.url} failed ({error}); check the connection or pass a mirror URL"
        raise DatasetError.single(path, message) from None
    except RuntimeError as error:
        if "Scipy" in str(error):
            raise DatasetError(
                [Problem(path.parent, "reading SBD's .mat masks needs scipy: pip install scipy")]
            ) from None
        path.unlink(missing_ok=True)
        message = f"MD5 checksum of {archive.url} is not {archive.md5}: corrupt or wrong file, removed; run again"
        raise DatasetError.single(path, message) from None


def download_voc(root: str | Path, archive: Archive = VOC2012_ARCHIVE, *, keep_archive: bool = False) -> VocLayout:
    """Fetch and unpack VOC 2012 into ``ROOT/VOCdevkit/VOC2012`` (nothing is fetched if it is already there)."""
    root = Path(root)
    if not (root / "VOCdevkit" / "VOC2012" / "ImageSets").is_dir():
        with _reported(archive, root / archive.filename):
            download_and_extract_archive(archive.url, root, filename=archive.filename, md5=archive.md5)
        if not keep_archive:
            (root / archive.filename).unlink()
    VOCSegmentation(root, year="2012", image_set="val")  # torchvision reads it: the layout is complete
    return find_voc(root)


def _sbd(root: Path, archive: Archive) -> SBDataset:
    """SBD's masks under ``ROOT/SBD``, fetched and moved there by torchvision unless present."""
    folder = root / "SBD"
    mirror = type("SBDMirror", (SBDataset,), {"url": archive.url, "md5": archive.md5, "filename": archive.filename})
    with _reported(archive, folder / archive.filename):
        return mirror(folder, image_set="train", mode="segmentation", download=not (folder / "cls").is_dir())


def add_sbd(root: str | Path, archive: Archive = SBD_ARCHIVE, *, keep_download: bool = False) -> Path:
    """Add SBD to a VOC 2012 tree as ``SegmentationClassAug`` + ``train_aug.txt`` (see module docstring).

    Returns the ``train_aug.txt`` path.
    """
    root = Path(root)
    layout = find_voc(root)
    sbd = _sbd(root, archive)
    sbd_ids = read_ids(Path(sbd.root) / "train.txt") + read_ids(Path(sbd.root) / "val.txt")
    val = set(read_ids(layout.segmentation_sets / "val.txt"))
    voc_train = read_ids(layout.segmentation_sets / "train.txt")
    ids = sorted(set(sbd_ids + voc_train) - val)
    layout.aug_masks.mkdir(exist_ok=True)
    for image_id in ids:
        target = layout.mask(image_id, aug=True)
        if layout.mask(image_id).is_file():
            shutil.copyfile(layout.mask(image_id), target)
        else:
            mask = sbd._get_segmentation_target(str(Path(sbd.root) / "cls" / f"{image_id}.mat"))
            _save_palettised(mask, target)
    listed = write_ids(layout.segmentation_sets / "train_aug.txt", ids)
    if not keep_download:
        shutil.rmtree(sbd.root)
    return listed


def _save_palettised(mask: Image.Image, path: Path) -> None:
    """Class indices as a VOC-palette PNG (the format of ``SegmentationClass``)."""
    png = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode="P")
    png.putpalette(VOC.png_palette())
    png.save(path)
