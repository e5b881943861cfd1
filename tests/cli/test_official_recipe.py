"""``configs/official_recipe.yaml``: the authors' released training recipe as a preset of ``ulrp train``."""

from pathlib import Path

import yaml

from tiny_runs import tiny_data_args
from unrolled_lrp.cli.main import build_parser, main

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "official_recipe.yaml"


def test_the_preset_sets_the_official_options(tmp_path):
    settings = build_parser().parse_args(["train", "--config", str(RECIPE), "--data.root", str(tmp_path)]).train
    data, optim = settings.data, settings.optim
    assert (data.normalise, data.batch_size, data.pixel_fraction) == ("none", 10, 0.5)
    assert optim.cls_weight == data.batch_size and optim.seg_weight == 1 and optim.lr == 1e-5
    assert settings.model_args == {"heatmap_scale": 1.0}
    assert data.blur_p == data.noise_p == 0.5 and tuple(data.color_jitter) == (0.2, 0.2, 0.2, 0.2)


def test_a_run_with_the_preset_trains_on_raw_augmented_inputs(tiny_voc, tmp_path):
    out = tmp_path / "run"
    options = ["--optim.steps", "2", "--optim.eval_every", "2", "--out_dir", str(out)]
    main(["train", "--config", str(RECIPE), *tiny_data_args(tiny_voc), *options])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["data"]["normalise"] == "none" and saved["model_args"] == {"heatmap_scale": 1.0}
    assert (out / "metrics.json").exists()
