"""A small slice of the real CamVid (``<repo>/../shared/datasets/camvid``): a fully pixel-labelled dataset, in its
5-class form (with background) and its 11-class form (no background, masks in ``SegmentationClassFull``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from unrolled_lrp.data import (
    ClassSet,
    DataConfig,
    build_training_data,
    check_dataset,
    collate,
    find_voc,
    read_ids,
    read_mask,
    write_ids,
)
from unrolled_lrp.training.losses import classification_loss

CAMVID = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "camvid"
FOLDERS = ("JPEGImages", "SegmentationClass", "SegmentationClassFull", "Annotations")
SUFFIXES = {"JPEGImages": ".jpg", "Annotations": ".xml"}

pytestmark = pytest.mark.skipif(
    not (CAMVID / "VOCdevkit").is_dir(), reason=f"real CamVid data not found at {CAMVID} (a clone without ../shared)"
)


@pytest.fixture(scope="module")
def camvid_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 6 train and 3 val images of CamVid with every label folder, lists and class files."""
    source, root = find_voc(CAMVID), tmp_path_factory.mktemp("camvid")
    target = root / "VOCdevkit" / "VOC2012"
    splits = {
        split: read_ids(source.segmentation_sets / f"{split}.txt")[:count]
        for split, count in (("train", 6), ("val", 3))
    }
    for folder in FOLDERS:
        (target / folder).mkdir(parents=True)
        for image_id in splits["train"] + splits["val"]:
            name = image_id + SUFFIXES.get(folder, ".png")
            shutil.copyfile(source.root / folder / name, target / folder / name)
    for split, ids in splits.items():
        write_ids(target / "ImageSets" / "Segmentation" / f"{split}.txt", ids)
    write_ids(target / "ImageSets" / "Main" / "trainval.txt", splits["train"] + splits["val"])
    for name in ("classes.yaml", "classes_full.yaml"):
        shutil.copyfile(CAMVID / name, root / name)
    return root


def test_both_label_sets_check_clean(camvid_slice: Path):
    assert check_dataset(camvid_slice, ClassSet.from_yaml(camvid_slice / "classes.yaml")) == []
    full = ClassSet.from_yaml(camvid_slice / "classes_full.yaml")
    assert not full.has_background and full.num_classes == 11
    assert check_dataset(camvid_slice, full, mask_folder="SegmentationClassFull") == []


def test_class_file_that_does_not_fit_the_masks_is_reported(camvid_slice: Path):
    five = ClassSet.from_yaml(camvid_slice / "classes.yaml")
    problems = check_dataset(camvid_slice, five, mask_folder="SegmentationClassFull")
    assert problems and all("outside the classes 0..4" in problem.message for problem in problems)


@pytest.mark.parametrize("num_pixel", [None, 5])
def test_every_image_pixel_labelled_trains_in_mixed_batches(camvid_slice: Path, num_pixel: int | None):
    """num_pixel=None: the whole pool is the regime and there is no image-level image at all; 5: the pixel image
    outside the regime trains with its image labels."""
    config = DataConfig(
        camvid_slice, camvid_slice / "classes.yaml", num_pixel=num_pixel, holdout_count=1, batch_size=4, crop_size=64
    )
    data = build_training_data(config)
    image_level = 6 - (num_pixel or 6)
    assert (data.sampler.num_pixel, data.sampler.num_image_level) == (5 - image_level, image_level)
    batch = collate([data.train[i] for i in data.sampler.batch(0)])
    assert batch.image.shape == (4, 3, 64, 64) and int(batch.has_mask.sum()) == (4 if num_pixel is None else 2)
    assert bool((batch.labels[:, 0] == 1).all())  # background is in every image


def test_eleven_classes_without_background_are_all_image_labels(camvid_slice: Path):
    config = DataConfig(
        camvid_slice,
        camvid_slice / "classes_full.yaml",
        mask_folder="SegmentationClassFull",
        holdout_count=1,
        batch_size=2,
        crop_size=64,
    )
    data = build_training_data(config)
    for item, sample in zip(data.train.items, data.train):
        present = set(read_mask(item.mask).unique().tolist()) - {255}
        assert item.labels == present  # sky (index 0) only where the mask has sky
        assert sample.labels.nonzero().flatten().tolist() == sorted(present)
    logits = torch.zeros(1, 11, requires_grad=True)
    classification_loss(logits, data.train[0].labels[None], has_background=False).backward()
    assert bool((logits.grad != 0).all())  # every class, index 0 included, is trained
