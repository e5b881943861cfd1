import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unrolled_lrp.data import IGNORE_INDEX, VOC, DatasetError, find_voc, load_voc, read_ids, read_mask, split_holdout
from unrolled_lrp.data.voc import annotation_labels


def lists(root: Path) -> dict[str, list[str]]:
    layout = find_voc(root)
    return {
        "train": read_ids(layout.segmentation_sets / "train.txt"),
        "val": read_ids(layout.segmentation_sets / "val.txt"),
        "trainval": read_ids(layout.main_trainval),
    }


def ids(items) -> set[str]:
    return {item.id for item in items}


def test_pools_are_disjoint_and_follow_the_lists(synth_root: Path):
    pools, listed = load_voc(synth_root), lists(synth_root)
    assert ids(pools.pixel) == set(listed["train"]) and ids(pools.val) == set(listed["val"])
    assert ids(pools.image_level) == set(listed["trainval"]) - set(listed["val"]) - set(listed["train"])
    assert not ids(pools.val) & (ids(pools.pixel) | ids(pools.image_level))
    assert all(item.mask is None for item in pools.image_level)
    assert all(0 in item.labels for item in pools.pixel + pools.image_level + pools.val)


def test_root_may_point_at_voc2012_itself(synth_root: Path):
    assert load_voc(synth_root / "VOCdevkit" / "VOC2012") == load_voc(synth_root)


def test_without_main_trainval_every_annotation_counts(voc_copy: Path):
    layout = find_voc(voc_copy)
    expected = ids(load_voc(voc_copy).image_level)
    layout.main_trainval.unlink()
    extra = layout.annotation("2099_000001")
    shutil.copy(layout.annotation(sorted(expected)[0]), extra)
    shutil.copy(layout.image(sorted(expected)[0]), layout.image("2099_000001"))
    assert ids(load_voc(voc_copy).image_level) == expected | {"2099_000001"}


def test_pixel_labels_come_from_masks_and_match_the_xml(synth_root: Path):
    for item in load_voc(synth_root).pixel:
        mask = read_mask(item.mask)
        assert item.labels == (set(mask.unique().tolist()) - {IGNORE_INDEX}) | {0}
        objects = ET.parse(find_voc(synth_root).annotation(item.id)).getroot().iter("object")
        visible = {VOC.index(o.findtext("name")) for o in objects if o.findtext("difficult") == "0"}
        assert item.labels == visible | {0}


def test_void_stays_255_and_is_never_background(synth_root: Path):
    item = load_voc(synth_root).pixel[0]
    raw = np.array(Image.open(item.mask))
    mask = read_mask(item.mask)
    assert (raw == 255).any() and mask.dtype.is_floating_point is False
    assert np.array_equal(mask.numpy() == IGNORE_INDEX, raw == 255)


def test_image_level_labels_from_xml(voc_copy: Path):
    layout = find_voc(voc_copy)
    path = layout.annotation("2099_000002")
    path.write_text("<annotation><object><name> cat </name></object><object><name>dog</name></object></annotation>")
    assert annotation_labels(path, VOC) == {0, VOC.index("cat"), VOC.index("dog")}


def make_aug(root: Path, extra: list[str]) -> Path:
    """SegmentationClassAug with greyscale masks for train + val + ``extra`` image-level ids."""
    layout = find_voc(root)
    layout.aug_masks.mkdir()
    pools = load_voc(root)
    for item in pools.pixel + pools.val:
        Image.fromarray(read_mask(item.mask).numpy().astype(np.uint8), mode="L").save(layout.mask(item.id, aug=True))
    for image_id in extra:
        height, width = np.array(Image.open(layout.image(image_id))).shape[:2]
        Image.fromarray(np.full((height, width), 5, np.uint8), mode="L").save(layout.mask(image_id, aug=True))
    return layout.aug_masks


def test_segmentation_class_aug_only_when_asked(voc_copy: Path):
    plain = load_voc(voc_copy)
    extra = sorted(ids(plain.image_level))[:3]
    make_aug(voc_copy, extra)
    assert load_voc(voc_copy) == plain  # present but not requested: unused
    aug = load_voc(voc_copy, use_aug=True)
    assert ids(aug.pixel) == ids(plain.pixel) | set(extra)  # val masks in the Aug folder are excluded
    assert ids(aug.image_level) == ids(plain.image_level) - set(extra) and ids(aug.val) == ids(plain.val)
    assert all(item.mask.parent.name == "SegmentationClassAug" for item in aug.pixel)


def test_use_aug_without_the_folder_is_an_error(voc_copy: Path):
    with pytest.raises(DatasetError, match="SegmentationClassAug"):
        load_voc(voc_copy, use_aug=True)


def test_val_in_training_list_is_refused(voc_copy: Path):
    layout = find_voc(voc_copy)
    train = layout.segmentation_sets / "train.txt"
    train.write_text(train.read_text() + read_ids(layout.segmentation_sets / "val.txt")[0] + "\n")
    with pytest.raises(DatasetError, match="val image"):
        load_voc(voc_copy)


def test_missing_dataset_explains_the_layout(tmp_path: Path):
    with pytest.raises(DatasetError, match="VOCdevkit/VOC2012"):
        load_voc(tmp_path)


@pytest.mark.parametrize(
    "size, fraction, count, expected",
    [
        (20, 0.1, None, 2),
        (3, 0.1, None, 1),
        (2, 0.1, None, 1),
        (1, 0.1, None, 0),
        (20, 0.1, 5, 5),
        (20, 0.5, None, 10),
    ],
)
def test_holdout_sizes(size: int, fraction: float, count: int | None, expected: int):
    train, holdout = split_holdout(list(range(size)), fraction=fraction, count=count, seed=1)
    assert len(holdout) == expected and sorted(train + holdout) == list(range(size))


def test_holdout_is_reproducible_from_the_seed():
    items = [f"id{k}" for k in range(50)]
    assert split_holdout(items, seed=4) == split_holdout(items, seed=4)
    assert split_holdout(items, seed=4)[1] != split_holdout(items, seed=5)[1]
