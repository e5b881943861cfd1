"""``ulrp explain --arch mobilenet_v2 --weights imagenet``: the 1000 ImageNet classes, named, on a real photo."""

import pytest
import torch
from torchvision.models import MobileNet_V2_Weights

from unrolled_lrp.cli.main import main
from unrolled_lrp.models import imagenet_categories
from unrolled_lrp.models.weights import OFFLINE_INSTALL, imagenet_weight_files


@pytest.mark.slow
def test_explain_names_the_top_imagenet_classes_of_a_real_photo(tmp_path, capsys, single_thread):
    if not any(path.is_file() for path in imagenet_weight_files(MobileNet_V2_Weights.IMAGENET1K_V1)):
        pytest.skip(f"MobileNetV2 ImageNet weights not installed: {OFFLINE_INSTALL}")
    data = pytest.importorskip("skimage.data", reason="scikit-image provides the test photo")
    from PIL import Image

    Image.fromarray(data.chelsea()).save(tmp_path / "chelsea.jpg")
    torch.manual_seed(0)
    args = ["explain", "--arch", "mobilenet_v2", "--weights", "imagenet", "--images", f"[{tmp_path / 'chelsea.jpg'}]"]
    main([*args, "--size", "64", "--top_k", "2", "--lrp.class_chunk_size", "200", "--out_dir", str(tmp_path / "out")])
    assert (tmp_path / "out" / "chelsea_explanation.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    top = printed.split("top scores: ")[1].split(", ")
    assert len(top) == 2 and all(score.rsplit(" ", 1)[0] in imagenet_categories("mobilenet_v2") for score in top)
