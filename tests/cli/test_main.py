"""The ulrp command line: demo output, --help, clear errors."""

import pytest
from PIL import Image

from unrolled_lrp.cli.main import main


def test_demo_writes_a_viewable_explanation(tmp_path, capsys):
    main(["explain-demo", "--out_dir", str(tmp_path)])
    figure = Image.open(tmp_path / "scene_explanation.png")
    assert figure.size[0] > 1000 and len(figure.convert("L").getcolors(256)) > 50  # a real picture, not blank
    assert "top scores" in capsys.readouterr().out


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = capsys.readouterr().out
    for option in ("--images", "--arch", "--checkpoint", "--weights", "--classes", "--rule", "--epsilon", "--size", "--top_k"):
        assert option in text


def test_unreadable_image_and_bad_rule_give_clear_errors(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(SystemExit, match=r"cannot read image .*broken\.jpg"):
        main(["explain", "--images", f"[{broken}]", "--out_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="rule must be 'zero' or 'epsilon'"):
        main(["explain", "--images", f"[{broken}]", "--rule", "alpha"])
