"""``ulrp pretrain`` / ``train`` / ``eval`` end to end on a tiny synthetic dataset: run directories, YAML
configs with overrides, resuming, --help and clear errors."""

import csv
import json
import re
import shutil

import pytest
import yaml

from tiny_runs import tiny_data_args
from unrolled_lrp.cli.main import main
from unrolled_lrp.data.problems import DatasetError
from unrolled_lrp.data.synth import SynthConfig, write_synthetic_voc
from unrolled_lrp.training.checkpoint import load


def _optim(steps):
    return ["--optim.steps", str(steps), "--optim.eval_every", "2", "--optim.log_every", "1", "--optim.lr", "1e-3"]


def _logged_steps(run_dir):
    return [int(row[0]) for row in csv.reader((run_dir / "log.csv").open())]


@pytest.fixture(scope="module")
def pretrained(tiny_voc, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain")
    main(["pretrain", *tiny_data_args(tiny_voc), *_optim(2), "--out_dir", str(out)])
    return out


@pytest.fixture(scope="module")
def trained(tiny_voc, pretrained, tmp_path_factory):
    """An unrolled LRP run from a YAML config (3 steps) overridden on the command line (2 steps)."""
    out = tmp_path_factory.mktemp("train")
    config = out.parent / "train.yaml"
    config.write_text(
        yaml.safe_dump({"model": "unrolled_lrp", "optim": {"steps": 3, "lr": 1e-3, "eval_every": 2, "log_every": 1}})
    )
    main(
        [
            "train",
            "--config",
            str(config),
            *tiny_data_args(tiny_voc),
            "--optim.steps",
            "2",
            "--classifier_checkpoint",
            str(pretrained / "classifier.pt"),
            "--out_dir",
            str(out),
        ]
    )
    return out


def test_pretrain_writes_the_classifier_and_its_f1(pretrained):
    assert {"config.yaml", "log.csv", "last.pt", "classifier.pt", "metrics.json"} <= {
        p.name for p in pretrained.iterdir()
    }
    metrics = json.loads((pretrained / "metrics.json").read_text())
    assert metrics["steps"] == 2 and 0 <= metrics["val"]["f1"] <= 1


def test_train_writes_a_complete_run_dir_and_the_override_wins(trained, pretrained):
    config = yaml.safe_load((trained / "config.yaml").read_text())
    assert config["optim"]["steps"] == 2 and config["model"] == "unrolled_lrp"
    assert config["classifier_checkpoint"] == str(pretrained / "classifier.pt")
    assert len((trained / "pixel_6_seed0.txt").read_text().split()) == 6
    assert _logged_steps(trained) == [1, 2] and load(trained / "last.pt")["step"] == 2
    metrics = json.loads((trained / "metrics.json").read_text())
    assert (trained / "best.pt").exists() and 0 <= metrics["holdout"]["miou"] <= 1


def test_eval_writes_val_metrics(tiny_voc, trained):
    main(["eval", *tiny_data_args(tiny_voc), "--run_dir", str(trained)])
    metrics = json.loads((trained / "val_metrics.json").read_text())
    assert 0 <= metrics["miou"] <= 1 and 0 <= metrics["f1"] <= 1
    table = (trained / "val_metrics.md").read_text()
    assert f"**{100 * metrics['miou']:.2f}**" in table and "| cat |" in table and "| dog |" in table


def test_resume_continues_with_the_saved_settings_and_overwrite_starts_anew(tiny_voc, trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    main(["train", "--resume", str(run), "--optim.steps", "4"])
    assert "resuming the run" in capsys.readouterr().out
    assert _logged_steps(run) == [1, 2, 3, 4] and load(run / "last.pt")["step"] == 4
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (
        config["optim"]["steps"] == 4
        and config["classifier_checkpoint"]
        == yaml.safe_load((trained / "config.yaml").read_text())["classifier_checkpoint"]
    )
    main(["train", *tiny_data_args(tiny_voc), *_optim(1), "--out_dir", str(run), "--overwrite", "true"])
    assert _logged_steps(run) == [1] and not (run / "val_metrics.json").exists()


def test_resuming_with_other_settings_is_refused_and_names_them(tiny_voc, trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = (run / "last.pt").read_bytes()
    with pytest.raises(ValueError, match=r"optim\.lr: 0\.001 -> 0\.01.*--overwrite true"):
        main(["train", "--resume", str(run), "--optim.lr", "1e-2"])
    assert (run / "last.pt").read_bytes() == before


def test_resume_of_a_directory_without_a_run_or_of_nothing_says_so(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--resume", str(tmp_path)])
    assert f"error: {tmp_path}: no config.yaml there" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["pretrain", "--resume"])
    assert "error: argument --resume: expected one argument" in capsys.readouterr().err


def test_a_log_row_after_the_checkpoint_is_dropped_on_resume(tiny_voc, trained, tmp_path):
    """A run killed between a log write and the next checkpoint leaves rows that the resumed run redoes."""
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    with (run / "log.csv").open("a") as log:
        log.write("3,9.9,9.9,9.9\n")
    main(["train", "--resume", str(run), "--optim.steps", "3"])
    rows = list(csv.reader((run / "log.csv").open()))
    assert [int(r[0]) for r in rows] == [1, 2, 3] and rows[-1][1] != "9.9"


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            ["pretrain"],
            [
                "--data.root",
                "--optim.steps",
                "--arch",
                "--weights",
                "--classifier_checkpoint",
                "--overwrite",
                "--resume",
            ],
        ),
        (
            ["train"],
            [
                "--data.root",
                "--data.num_pixel",
                "--optim.lr",
                "--optim.precision",
                "--optim.channels_last",
                "--optim.device",
                "--model",
                "--model_args",
                "--lrp.composite",
                "--lrp.rules",
                "--lrp.gamma",
                "--lrp.decoder_weights",
                "--classifier_checkpoint",
                "--out_dir",
                "--overwrite",
                "--resume",
            ],
        ),
        (["eval"], ["--data.root", "--run_dir", "--device"]),
        (["demo"], ["--out_dir", "--num_pixel", "--pretrain_steps", "--steps", "--lr", "--models", "--image_size"]),
        (["explain"], ["--images", "--checkpoint", "--classes", "--lrp.composite", "--top_k"]),
        (
            ["data", "synth"],
            [
                "--root",
                "--synth.num_pixel_train",
                "--synth.num_val",
                "--synth.num_image_level",
                "--synth.image_size",
                "--synth.classes",
            ],
        ),
        (["data", "check"], ["--root", "--classes", "--use_aug", "--decode"]),
    ],
)
def test_help_documents_every_option(command, options, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    for option in options:
        assert option in text, option
    assert "(type:" in text and "default:" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optim.lr", "notanumber"], r"optim\.lr[\s\S]*notanumber"),
        (["--optim.precision", "fp8"], r"optim\.precision[\s\S]*fp32', 'bf16'[\s\S]*fp8"),
    ],
)
def test_bad_option_values_name_the_option(tiny_voc, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit):
        main(["train", *tiny_data_args(tiny_voc), *args, "--out_dir", str(tmp_path)])
    assert re.search(message, capsys.readouterr().err)


def test_bad_config_file_value_names_the_option(tiny_voc, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("optim:\n  precision: fp8\n")
    with pytest.raises(SystemExit):
        main(["train", "--config", str(config), *tiny_data_args(tiny_voc), "--out_dir", str(tmp_path)])
    assert "optim.precision" in capsys.readouterr().err


def test_unknown_model_and_missing_dataset_give_clear_errors(tiny_voc, tmp_path):
    with pytest.raises(ValueError, match="unknown model 'segformer'; choose from fcn, "):
        main(["train", *tiny_data_args(tiny_voc), "--model", "segformer", "--out_dir", str(tmp_path)])
    missing = tmp_path / "no_such_dataset"
    with pytest.raises(DatasetError, match=rf"{missing}: no VOC2012 folder found"):
        main(["train", "--data.root", str(missing), "--out_dir", str(tmp_path / "run")])


def test_a_fully_pixel_labelled_dataset_pretrains_and_evaluates(tmp_path):
    """Pre-training and evaluation read the val list alone: no regime or batch sampler that would need an
    image-level-only pool, which a dataset with a mask for every training image does not have."""
    root = tmp_path / "voc"
    write_synthetic_voc(
        root,
        SynthConfig(
            num_pixel_train=8, num_val=4, num_image_level=0, image_size=32, classes=["background", "cat", "dog"]
        ),
    )
    data = ["--data.root", str(root), "--data.classes", str(root / "classes.yaml"), "--data.crop_size", "32"]
    data += ["--data.batch_size", "4"]
    main(["pretrain", *data, *_optim(2), "--out_dir", str(tmp_path / "pretrain")])
    assert 0 <= json.loads((tmp_path / "pretrain" / "metrics.json").read_text())["val"]["f1"] <= 1
    run = tmp_path / "unet"
    main(["train", *data, *_optim(2), "--model", "unet", "--data.num_pixel", "4", "--out_dir", str(run)])
    main(["eval", *data, "--run_dir", str(run)])
    assert 0 <= json.loads((run / "val_metrics.json").read_text())["miou"] <= 1
