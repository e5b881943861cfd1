"""Run directories and run keys without training: layout round trip, status, the resume check."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unrolled_lrp.data import DataConfig
from unrolled_lrp.experiments.layout import RunKey, pretraining_dir
from unrolled_lrp.runs import RESUMABLE_CHANGES, RunDir, Status, val_set
from unrolled_lrp.runs.rundir import setting_defaults


def test_a_run_key_round_trips_through_its_path(tmp_path):
    key = RunKey("resnet50", 20, 2, "unrolled_lrp")
    assert key.path(tmp_path) == tmp_path / "resnet50" / "n20" / "seed2" / "unrolled_lrp"
    assert RunKey.parse(tmp_path, key.path(tmp_path)) == key


@pytest.mark.parametrize("relative", ["resnet50/pretrain", "resnet50/20/seed2/unet", "resnet50/n20/seedx/unet"])
def test_other_layouts_are_no_run_key(tmp_path, relative):
    with pytest.raises(ValueError, match="nN/seedS"):
        RunKey.parse(tmp_path, tmp_path / relative)


def test_find_lists_the_run_directories_and_skips_other_folders(tmp_path):
    keys = [RunKey("vgg16_bn", 100, 0, "unet"), RunKey("resnet50", 20, 1, "fcn")]
    for key in keys:
        key.path(tmp_path).mkdir(parents=True)
    (tmp_path / "resnet50" / "pretrain" / "snapshots" / "x").mkdir(parents=True)
    (tmp_path / "report" / "nothing" / "seed" / "x").mkdir(parents=True)
    assert RunKey.find(tmp_path) == sorted(keys)


def test_status_follows_the_files(tmp_path):
    run, pretraining = RunDir(tmp_path / "run"), pretraining_dir(tmp_path, "resnet18")
    assert run.status == pretraining.status == Status.TODO
    for each in (run, pretraining):
        each.path.mkdir(parents=True)
        each.last.write_bytes(b"")
        each.metrics.write_text("{}")
    assert run.status == Status.PARTIAL and pretraining.status == Status.FINISHED
    run.val_metrics.write_text("{}")
    assert run.status == Status.FINISHED and str(run.status) == "finished"


def test_the_resume_check_allows_the_resumable_settings_only(tmp_path):
    run = RunDir(tmp_path)
    config = {"optim": {"steps": 10, "lr": 1e-3, "device": "cpu"}, "model": "unet"}
    run.prepare(config, overwrite=False)
    assert {"optim.steps", "optim.device"} <= RESUMABLE_CHANGES
    run.check_resumable({"optim": {"steps": 20, "lr": 1e-3, "device": "cuda"}, "model": "unet"})
    with pytest.raises(ValueError, match=r"model: 'unet' -> 'fcn', optim\.lr: 0\.001 -> 0\.01"):
        run.check_resumable({"optim": {"steps": 10, "lr": 1e-2, "device": "cpu"}, "model": "fcn"})


def test_a_folder_without_config_is_no_run(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no config.yaml there"):
        RunDir(tmp_path).saved_config()


def test_the_val_set_follows_the_data_settings(tiny_voc, tmp_path):
    """Normalisation and mask folder of ``DataConfig`` reach the val list that ``ulrp pretrain`` and scripts read."""
    root = shutil.copytree(tiny_voc, tmp_path / "voc")
    voc = root / "VOCdevkit" / "VOC2012"
    other = shutil.copytree(voc / "SegmentationClass", voc / "SegmentationOther")
    for png in other.glob("*.png"):
        with Image.open(png) as mask:
            other_labels = Image.fromarray(np.ones_like(np.asarray(mask)))  # class 1 everywhere
        other_labels.save(png)
    config = DataConfig(root=root, classes=root / "classes.yaml")
    raw = val_set(replace(config, normalise="none"))[0].image
    assert raw.min() >= 0 and raw.max() <= 1 and val_set(config)[0].image.min() < 0
    assert (val_set(config)[0].mask != 1).any()
    assert (val_set(replace(config, mask_folder="SegmentationOther"))[0].mask == 1).all()


def test_a_setting_added_after_the_run_started_resumes_at_its_default_only(tmp_path):
    """Run directories written before a new option existed stay resumable; the option at another value is refused."""
    run = RunDir(tmp_path)
    run.prepare({"data": {"crop_size": 128}, "model": "unet"}, overwrite=False)
    run.last.write_bytes(b"")
    defaults = setting_defaults(data=DataConfig(root=tmp_path))
    assert defaults["data.normalise"] == "imagenet" and defaults["data.scale_range"] == [0.5, 2.0]
    newer = {"data": {"crop_size": 128, "normalise": "imagenet"}, "model": "unet"}
    run.check_resumable(newer, defaults)
    with pytest.raises(ValueError, match=r"data\.normalise: None -> 'none'"):
        run.check_resumable({**newer, "data": {"crop_size": 128, "normalise": "none"}}, defaults)
    with pytest.raises(ValueError, match=r"data\.normalise"):
        run.check_resumable(newer)
