"""The typed ``--lrp.*`` group: listed and checked when parsed, recorded by a run, used by training and by the
evaluation that rebuilds the model; LRP options are refused among the untyped ``--model_args``."""

from __future__ import annotations

import csv
import math

import pytest
import yaml

from tiny_runs import tiny_data_args
from unrolled_lrp.cli.main import main
from unrolled_lrp.lrp import LRPConfig
from unrolled_lrp.runs import workflows

STEPS = ["--optim.steps", "1", "--optim.eval_every", "1", "--optim.log_every", "1"]


@pytest.mark.parametrize("command", ["train", "explain"])
def test_help_lists_the_lrp_group_with_its_choices(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    for option in ("--lrp.composite", "--lrp.rules", "--lrp.gamma", "--lrp.low", "--lrp.decoder_weights"):
        assert option in text
    assert "epsilon_gamma_box" in text


def test_pretraining_takes_no_lrp_options(capsys):
    """Pre-training trains the classifier alone, with the classification loss: no heatmap is computed."""
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    assert "--lrp." not in capsys.readouterr().out


@pytest.mark.parametrize(
    "option",
    [["--lrp.composite", "alpha"], ["--lrp.gama", "1"], ["--lrp.decoder_weights", "loose"]],
    ids=["unknown composite", "unknown field", "unknown choice"],
)
def test_a_bad_lrp_option_stops_the_parse_and_touches_nothing(tiny_voc, tmp_path, capsys, option):
    with pytest.raises(SystemExit) as stop:
        main(["train", *tiny_data_args(tiny_voc), *option, "--out_dir", str(tmp_path / "run")])
    assert stop.value.code == 2 and option[0].removeprefix("--") in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_value_lrp_config_refuses_is_one_clear_error(tiny_voc, tmp_path):
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        main(["train", *tiny_data_args(tiny_voc), "--lrp.alpha", "3", "--out_dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_lrp_options_among_model_args_name_their_typed_option(tiny_voc, tmp_path):
    with pytest.raises(ValueError, match=r"composite are LRP options; set them with --lrp\.composite"):
        main(
            ["train", *tiny_data_args(tiny_voc), "--model_args", '{"composite": "epsilon"}', "--out_dir", str(tmp_path)]
        )


def test_training_and_evaluation_use_the_runs_lrp_options(tiny_voc, tmp_path, monkeypatch):
    """An epsilon of 1000 absorbs all relevance: the pixel scores are ~0 and the first segmentation loss is ln 3
    (three classes). The evaluation rebuilds the model with the recorded options, zB bounds filled from the data."""
    run = tmp_path / "run"
    lrp = ["--lrp.composite", "epsilon", "--lrp.epsilon", "1000"]
    main(["train", *tiny_data_args(tiny_voc), *STEPS, *lrp, "--out_dir", str(run)])
    saved = yaml.safe_load((run / "config.yaml").read_text())["lrp"]
    assert (saved["composite"], saved["epsilon"], saved["low"]) == ("epsilon", 1000.0, None)
    first_seg_loss = float(next(csv.reader((run / "log.csv").open()))[2])
    assert first_seg_loss == pytest.approx(math.log(3), abs=1e-3)

    built: list[LRPConfig] = []
    build = workflows.build_segmenter
    monkeypatch.setattr(workflows, "build_segmenter", lambda *a, **k: built.append(k["lrp"]) or build(*a, **k))
    main(["eval", *tiny_data_args(tiny_voc), "--run_dir", str(run)])
    assert built[0].composite == "epsilon" and built[0].epsilon == 1000.0
    assert built[0].low is not None and len(built[0].low) == 3  # per channel, from the data's normalisation


def test_a_model_without_heatmaps_records_no_lrp_options_and_resumes(tiny_voc, tmp_path):
    run = tmp_path / "unet"
    main(["train", *tiny_data_args(tiny_voc), *STEPS, "--model", "unet", "--out_dir", str(run)])
    assert "lrp" not in yaml.safe_load((run / "config.yaml").read_text())
    main(["train", "--resume", str(run), "--optim.steps", "2"])
    assert len((run / "log.csv").read_text().splitlines()) == 2
