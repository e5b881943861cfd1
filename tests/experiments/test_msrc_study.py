"""``configs/msrc_study.yaml`` (issue 18, item 3) loads as a grid and trains the variants the study compares."""

from pathlib import Path

from unrolled_lrp.experiments.grid import load_grid, method

STUDY = Path(__file__).resolve().parents[2] / "configs" / "msrc_study.yaml"


def test_the_msrc_study_trains_three_unrolled_variants_the_readout_and_the_baselines():
    grid = load_grid(STUDY)
    methods = {name: method(grid, name) for name in grid.models}
    unrolled = {
        (m.lrp.composite, m.lrp.decoder_weights) for m in methods.values() if m.model == "unrolled_lrp" and m.lrp
    }
    assert unrolled == {("zero", "tied"), ("epsilon_plus_flat", "tied"), ("zero", "untied")}
    assert {"lrp_readout", "unet", "mt_unet", "ws_ae", "fcn"} <= {m.model for m in methods.values()}
    assert grid.weights == "imagenet" and grid.encoders == ["mobilenet_v2"] and len(grid.seeds) == 3
