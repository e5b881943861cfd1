import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unrolled_lrp.data import (
    VOC_CLASSES,
    ClassSet,
    DatasetError,
    check_dataset,
    find_voc,
    load_voc,
    require_valid_dataset,
)
from unrolled_lrp.data.check import require_training_splits
from unrolled_lrp.data.problems import DatasetWarning
from unrolled_lrp.data.voc import VocItem


def test_clean_synthetic_dataset_has_no_problems(synth_root: Path):
    assert check_dataset(synth_root) == []
    require_valid_dataset(synth_root)


def damage(root: Path) -> dict[Path, str]:
    """Apply one defect of each kind; returns the expected problem file → message fragment."""
    layout, pools = find_voc(root), load_voc(root)
    pixel, val, image_level = (sorted(item.id for item in pool) for pool in (pools.pixel, pools.val, pools.image_level))
    layout.image(val[0]).unlink()
    layout.mask(val[1]).unlink()
    layout.image(image_level[0]).write_bytes(b"not a jpeg")
    truncated = layout.image(pixel[0])
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    small = Image.open(layout.mask(pixel[1]))
    small.resize((small.width // 2, small.height // 2)).save(layout.mask(pixel[1]))
    mask = Image.open(layout.mask(pixel[2]))
    values = np.array(mask)
    values[0, 0] = 30
    out_of_range = Image.fromarray(values, mode="P")
    out_of_range.putpalette(mask.getpalette())
    out_of_range.save(layout.mask(pixel[2]))
    Image.open(layout.mask(pixel[3])).convert("RGB").save(layout.mask(pixel[3]))
    layout.annotation(image_level[1]).write_text("<annotation><object><name>cat</name>")
    unknown = layout.annotation(image_level[2])
    unknown.write_text(unknown.read_text().replace("<name>", "<name>unicorn", 1))
    layout.annotation(image_level[3]).unlink()
    return {
        layout.image(val[0]): "image listed but missing",
        layout.mask(val[1]): "mask listed but missing",
        layout.image(image_level[0]): "unreadable or corrupt image",
        truncated: "unreadable or corrupt image",
        layout.mask(pixel[1]): "differs from its image",
        layout.mask(pixel[2]): "mask values [30] outside",
        layout.mask(pixel[3]): "PIL mode RGB",
        layout.annotation(image_level[1]): "cannot be parsed",
        unknown: "unknown class name(s) ['unicorn",
        layout.annotation(image_level[3]): "annotation missing",
    }


def test_every_defect_is_reported_at_once_with_its_path(voc_copy: Path):
    expected = damage(voc_copy)
    problems = check_dataset(voc_copy)
    found = {problem.path: problem.message for problem in problems}
    assert len(problems) == len(expected)
    for path, fragment in expected.items():
        assert fragment in found.get(path, ""), (path, found.get(path))


def test_require_valid_dataset_lists_every_problem(voc_copy: Path):
    expected = damage(voc_copy)
    with pytest.raises(DatasetError) as error:
        require_valid_dataset(voc_copy, decode=True)
    assert len(error.value.problems) == len(expected)
    assert all(str(path) in str(error.value) for path in expected)


def test_missing_folders_and_list_files_are_all_reported(voc_copy: Path):
    layout = find_voc(voc_copy)
    shutil.rmtree(layout.masks)
    (layout.segmentation_sets / "val.txt").unlink()
    problems = {(problem.path, problem.message) for problem in check_dataset(voc_copy)}
    assert problems == {
        (layout.masks, "folder missing"),
        (layout.segmentation_sets / "val.txt", "list file missing"),
    }


def test_annotations_are_required_only_for_image_level_images(voc_copy: Path):
    layout = find_voc(voc_copy)
    shutil.rmtree(layout.annotations)
    [problem] = check_dataset(voc_copy)
    assert problem.path == layout.annotations and "16 image-level training images" in problem.message
    layout.main_trainval.write_text(
        (layout.segmentation_sets / "train.txt").read_text() + (layout.segmentation_sets / "val.txt").read_text()
    )
    assert check_dataset(voc_copy) == []  # fully pixel-labelled: no XML needed


def test_aug_folder_is_required_only_with_use_aug(synth_root: Path):
    assert check_dataset(synth_root) == []
    assert [p.path.name for p in check_dataset(synth_root, use_aug=True)] == ["SegmentationClassAug"]


def test_val_listed_for_training_is_reported(voc_copy: Path):
    layout = find_voc(voc_copy)
    train = layout.segmentation_sets / "train.txt"
    train.write_text(train.read_text() + (layout.segmentation_sets / "val.txt").read_text().split()[0] + "\n")
    assert any("val image(s) also listed for training" in p.message for p in check_dataset(voc_copy))


def test_missing_root(tmp_path: Path):
    [problem] = check_dataset(tmp_path / "nowhere")
    assert problem.path == tmp_path / "nowhere" and "VOCdevkit/VOC2012" in problem.message


def _blank(mask: Path) -> None:
    """Paint a mask all background, keeping its palette."""
    png = Image.open(mask)
    blank = Image.fromarray(np.zeros_like(np.array(png)), mode="P")
    blank.putpalette(png.getpalette())
    blank.save(mask)


def test_empty_val_and_pixel_lists_are_problems(voc_copy: Path):
    layout = find_voc(voc_copy)
    for name in ("val.txt", "train.txt"):
        (layout.segmentation_sets / name).write_text("")
    found = {problem.path.name: problem.message for problem in check_dataset(voc_copy)}
    assert found["val.txt"].startswith("lists no image; evaluation needs at least one")
    assert found["train.txt"].startswith("lists no image; segmentation training needs at least one")


def test_a_split_without_a_foreground_pixel_is_a_problem(voc_copy: Path):
    layout = find_voc(voc_copy)
    for image_id in load_voc(voc_copy).val:
        _blank(layout.mask(image_id.id))
    [problem] = check_dataset(voc_copy)
    assert problem.path == layout.segmentation_sets / "val.txt"
    assert problem.message.startswith("no mask of its 8 images has a foreground pixel")


def test_a_class_no_image_contains_is_a_warning_not_a_problem(synth_root: Path):
    classes = ClassSet.from_names([*VOC_CLASSES, "unicorn"])
    with pytest.warns(DatasetWarning) as warned:
        assert check_dataset(synth_root, classes) == []
    messages = [str(warning.message) for warning in warned]
    assert any("no training image contains the class(es) unicorn" in message for message in messages)
    assert any("no val image contains the class(es)" in message and "unicorn" in message for message in messages)


def test_a_training_or_hold_out_split_without_a_foreground_pixel_is_refused():
    classes = ClassSet.from_names(["background", "cat", "dog"])

    def items(*labels: set[int]) -> list[VocItem]:
        return [
            VocItem(f"im{k}", Path(f"im{k}.jpg"), Path(f"im{k}.png"), frozenset(found))
            for k, found in enumerate(labels)
        ]

    require_training_splits(items({0, 1}, {0}), items({0, 2}), classes)
    with pytest.raises(ValueError, match=r"the hold-out split \(im0, im1\) has no foreground pixel"):
        require_training_splits(items({0, 1}), items({0}, {0}), classes)
    with pytest.raises(ValueError, match=r"the training split \(im0\) has no foreground pixel"):
        require_training_splits(items({0}), items({0, 1}), classes)
    with pytest.raises(ValueError, match=r"leave none for the hold-out split"):
        require_training_splits(items({0, 1}), [], classes)
