"""``configs/msrc_study.yaml`` (issue 18) loads as a grid and trains what the study compares."""

from pathlib import Path

from references import random_classifier
from unrolled_lrp.experiments.grid import load_grid, method
from unrolled_lrp.models import build_model

STUDY = Path(__file__).resolve().parents[2] / "configs" / "msrc_study.yaml"


def test_the_msrc_study_trains_tied_epsilon_plus_flat_against_a_unet_on_the_imagenet_mobilenet():
    grid = load_grid(STUDY)
    methods = {name: method(grid, name) for name in grid.models}
    assert {m.model for m in methods.values()} == {"unrolled_lrp", "unet"}
    (unrolled,) = [m for m in methods.values() if m.model == "unrolled_lrp"]
    assert unrolled.lrp is not None
    assert (unrolled.lrp.composite, unrolled.lrp.decoder_weights) == ("epsilon_plus_flat", "tied")
    model = build_model(unrolled.model, random_classifier("mobilenet_v2@0.25", num_classes=15), 15, lrp=unrolled.lrp)
    assert model.heatmap_scale == "relevance"  # EpsilonPlusFlat's scores normalised per image (docs/msrc.md)
    assert grid.weights == "imagenet" and grid.encoders == ["mobilenet_v2"] and len(grid.seeds) >= 2
