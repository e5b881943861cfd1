import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unrolled_lrp.data import (
    VOC,
    ClassSet,
    SynthConfig,
    check_dataset,
    find_voc,
    load_voc,
    read_ids,
    write_synthetic_voc,
)

from .conftest import SIZES


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_voc_layout_and_lists(synth_root: Path):
    layout = find_voc(synth_root)
    assert layout.root == synth_root / "VOCdevkit" / "VOC2012"
    train, val = (read_ids(layout.segmentation_sets / f"{name}.txt") for name in ("train", "val"))
    assert (len(train), len(val)) == (SIZES["num_pixel_train"], SIZES["num_val"])
    assert sorted(read_ids(layout.segmentation_sets / "trainval.txt")) == sorted(train + val)
    all_ids = read_ids(layout.main_trainval)
    assert len(all_ids) == len(train) + len(val) + SIZES["num_image_level"]
    assert {p.stem for p in layout.images.glob("*.jpg")} == set(all_ids)
    assert {p.stem for p in layout.annotations.glob("*.xml")} == set(all_ids)
    assert {p.stem for p in layout.masks.glob("*.png")} == set(train + val)
    assert ClassSet.from_yaml(synth_root / "classes.yaml") == VOC


def test_masks_are_palettised_with_the_voc_palette_and_have_a_void_band(synth_root: Path):
    for item in load_voc(synth_root).pixel:
        png = Image.open(item.mask)
        assert png.mode == "P" and png.getpalette()[: 3 * 21] == VOC.png_palette()[: 3 * 21]
        values = np.array(png)
        assert (values == 255).any() and png.size == Image.open(item.image).size
        assert ((values != 0) & (values != 255)).any()  # an object is visible


def test_every_class_is_in_the_pixel_pool_with_several_per_image(synth_root: Path):
    pools = load_voc(synth_root)
    assert set().union(*(item.labels for item in pools.pixel)) == set(range(21))
    items = pools.pixel + pools.image_level + pools.val
    assert any(len(item.labels) >= 3 for item in items)  # multi-object scenes (background + 2 classes)
    assert len({Image.open(item.image).size for item in items}) > 1  # varying aspect ratios


def test_deterministic_from_the_seed(tmp_path: Path):
    def write(name: str, seed: int) -> dict[str, str]:
        return digest(
            write_synthetic_voc(
                tmp_path / name,
                SynthConfig(
                    seed=seed,
                    num_pixel_train=3,
                    num_val=2,
                    num_image_level=2,
                    image_size=32,
                    classes=["background", "a", "b"],
                ),
            )
        )

    assert write("a", 1) == write("b", 1) != write("c", 2)


def test_custom_classes_round_trip(tmp_path: Path):
    write_synthetic_voc(
        tmp_path,
        SynthConfig(
            num_pixel_train=4, num_val=2, num_image_level=3, image_size=48, classes=["background", "apple", "pear"]
        ),
    )
    classes = ClassSet.from_yaml(tmp_path / "classes.yaml")
    assert classes.names == ("background", "apple", "pear")
    assert check_dataset(tmp_path, classes) == []
    assert any("unknown class" in p.message for p in check_dataset(tmp_path))  # not VOC names
    assert set().union(*(item.labels for item in load_voc(tmp_path, classes).pixel)) == {0, 1, 2}


def test_too_few_pixel_images_for_the_classes(tmp_path: Path):
    with pytest.raises(ValueError, match="synth.num_pixel_train must be at least the 20 foreground classes"):
        SynthConfig(num_pixel_train=5)


def test_fast_enough_for_ci(tmp_path: Path):
    start = time.perf_counter()
    write_synthetic_voc(tmp_path, SynthConfig(num_pixel_train=80, num_val=40, num_image_level=80, image_size=96))
    assert time.perf_counter() - start < 10
