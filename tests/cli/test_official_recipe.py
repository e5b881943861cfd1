"""``configs/official_recipe.yaml``: the authors' released training recipe as a preset of ``ulrp train``."""

from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from tiny_runs import tiny_data_args
from unrolled_lrp.cli.main import build_parser, main
from unrolled_lrp.training.losses import classification_loss

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "official_recipe.yaml"


def test_the_preset_sets_the_official_options(tmp_path):
    settings = build_parser().parse_args(["train", "--config", str(RECIPE), "--data.root", str(tmp_path)]).train
    data, optim = settings.data, settings.optim
    assert (data.normalise, data.batch_size, data.pixel_fraction) == ("none", 10, 0.5)
    assert optim.cls_weight == data.batch_size and optim.seg_weight == 1 and optim.lr == 1e-5
    assert settings.model_args == {"heatmap_scale": 1.0}
    assert (settings.lrp.decoder_weights, settings.lrp.untied_init, settings.lrp.composite) == (
        "untied",
        "backbone",
        "zero",
    )
    assert data.blur_p == data.noise_p == 0.5 and tuple(data.color_jitter) == (0.2, 0.2, 0.2, 0.2)


def test_a_run_with_the_preset_trains_on_raw_augmented_inputs(tiny_voc, tmp_path):
    out = tmp_path / "run"
    # untied_init backbone would need the arch's ImageNet weights; a copy of the (random) classifier is enough here
    options = ["--optim.steps", "2", "--optim.eval_every", "2", "--lrp.untied_init", "classifier"]
    options += ["--out_dir", str(out)]
    main(["train", "--config", str(RECIPE), *tiny_data_args(tiny_voc), *options])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["data"]["normalise"] == "none" and saved["model_args"] == {"heatmap_scale": 1.0}
    assert saved["lrp"]["decoder_weights"] == "untied"
    assert (out / "metrics.json").exists()


def test_cls_weight_batch_size_is_the_official_classification_loss():
    """The official loss (utils/loss_utils.py:9-14, times the batch size in models/multilabel.py:123) is torch's
    multilabel_soft_margin_loss with background weight 0: the oracle for ``optim.cls_weight: 10``."""
    torch.manual_seed(0)
    logits, labels = torch.randn(10, 15), (torch.rand(10, 15) < 0.3).float()
    weight = torch.ones(15)
    weight[0] = 0
    official = F.multilabel_soft_margin_loss(logits, labels, weight=weight) * 10
    torch.testing.assert_close(10 * classification_loss(logits, labels), official)
