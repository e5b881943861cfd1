from pathlib import Path

import pytest
from jsonargparse import auto_cli

from unrolled_lrp.cli.data import check, synth
from unrolled_lrp.data import SynthConfig, find_voc


def test_synth_then_check_through_jsonargparse(tmp_path: Path, capsys: pytest.CaptureFixture):
    root = str(tmp_path)
    commands = {"synth": synth, "check": check}
    auto_cli(
        commands,
        args=[
            "synth",
            root,
            "--synth.num_pixel_train",
            "20",
            "--synth.num_val",
            "3",
            "--synth.num_image_level",
            "4",
            "--synth.image_size",
            "48",
            "--synth.seed",
            "2",
        ],
    )
    assert auto_cli(commands, args=["check", root]) == 0
    assert f"{root}: OK" in capsys.readouterr().out
    find_voc(root).image(sorted(p.stem for p in find_voc(root).images.glob("*.jpg"))[0]).write_bytes(b"garbage")
    assert auto_cli(commands, args=["check", root]) == 1
    assert "1 problem(s)" in capsys.readouterr().out


def test_custom_classes_option(tmp_path: Path):
    config = tmp_path / "classes.yaml"
    config.write_text("classes: [background, apple, pear]\n")
    synth(tmp_path / "d", SynthConfig(num_pixel_train=2, num_val=1, num_image_level=1, image_size=32, classes=config))
    assert check(tmp_path / "d", classes=config) == 0
    assert check(tmp_path / "d") == 1


def test_help_documents_every_option(capsys: pytest.CaptureFixture):
    for command, options in (
        ("synth", ["--synth.num_pixel_train", "--synth.image_size", "--synth.classes", "--synth.seed", "same seed"]),
        ("check", ["--classes", "--use_aug", "--decode", "Fully decode every image"]),
    ):
        with pytest.raises(SystemExit):
            auto_cli({"synth": synth, "check": check}, args=[command, "--help"])
        text = capsys.readouterr().out
        assert all(option in text for option in options) and "default:" in text
