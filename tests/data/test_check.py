import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unrolled_lrp.data import DatasetError, check_dataset, find_voc, load_voc, require_valid_dataset


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
