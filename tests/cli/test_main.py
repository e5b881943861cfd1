"""The ulrp command line: demo output, --help, clear errors."""

import sys

import pytest
from PIL import Image

from unrolled_lrp.cli.main import console, main
from unrolled_lrp.data.problems import DatasetError


def test_demo_writes_a_viewable_explanation(tmp_path, capsys):
    main(["explain-demo", "--out_dir", str(tmp_path)])
    figure = Image.open(tmp_path / "scene_explanation.png")
    assert figure.size[0] > 1000 and len(figure.convert("L").getcolors(256)) > 50  # a real picture, not blank
    assert "top scores" in capsys.readouterr().out


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--images",
        "--arch",
        "--checkpoint",
        "--weights",
        "--classes",
        "--lrp.composite",
        "--lrp.epsilon",
        "--lrp.gamma",
        "--lrp.low",
        "--lrp.decoder_weights",
        "--size",
        "--top_k",
    ):
        assert option in text


def test_unreadable_image_and_bad_rule_give_clear_errors(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.jpg"):
        main(["explain", "--images", f"[{broken}]", "--out_dir", str(tmp_path)])
    with pytest.raises(SystemExit):  # jsonargparse lists the composites and exits with status 2
        main(["explain", "--images", f"[{broken}]", "--lrp.composite", "alpha"])


def test_console_reports_bad_input_as_one_error_line_and_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["ulrp", "train", "--data.root", str(tmp_path / "missing")])
    with pytest.raises(SystemExit) as stop:
        console()
    assert str(stop.value).startswith("error: 1 dataset problem(s):") and "missing" in str(stop.value)
    monkeypatch.setenv("ULRP_DEBUG", "1")
    with pytest.raises(DatasetError):
        console()
