"""``configs/real_photos.yaml``: the MSRC study's winning method as a preset of ``ulrp train``."""

from dataclasses import asdict
from pathlib import Path

import yaml

from tiny_runs import tiny_data_args
from unrolled_lrp.cli.main import build_parser, main
from unrolled_lrp.experiments.grid import load_grid, method

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESET = CONFIGS / "real_photos.yaml"


#: The variant of configs/msrc_study.yaml that the preset is.
STUDY_VARIANT = "readout_plusflat"


def test_the_preset_trains_what_the_msrc_study_trained():
    settings = build_parser().parse_args(["train", "--config", str(PRESET), "--data.root", "photos"]).train
    study = load_grid(CONFIGS / "msrc_study.yaml")
    variant = method(study, STUDY_VARIANT)
    assert variant.lrp is not None and variant.optim is not None
    assert (settings.model, settings.arch) == (variant.model, study.encoders[0])
    assert vars(settings.lrp) == asdict(variant.lrp)
    assert (settings.optim.lr, settings.optim.steps, settings.optim.eval_every) == (
        variant.optim.lr,
        variant.optim.steps,
        variant.optim.eval_every,
    )
    for field in ("batch_size", "pixel_fraction", "crop_size", "scale_range"):
        assert getattr(settings.data, field) == getattr(study.data, field), field


def test_a_run_with_the_preset_trains_on_a_small_classifier(tiny_voc, tmp_path):
    out = tmp_path / "run"
    options = ["--arch", "resnet18", "--optim.steps", "2", "--optim.eval_every", "2", "--data.crop_size", "32"]
    main(["train", "--config", str(PRESET), *tiny_data_args(tiny_voc), *options, "--out_dir", str(out)])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["lrp"]["composite"] == "epsilon_plus_flat" and (out / "metrics.json").exists()
