"""The real MobileNetV2 ImageNet weights (installed offline): a real photo is classified correctly, and
the unrolled model keeps the classifier's logits and explains them exactly."""

import pytest
import torch
from torchvision.models import MobileNet_V2_Weights

from references import input_x_gradient
from unrolled_lrp import unroll
from unrolled_lrp.models import build_classifier, imagenet_categories
from unrolled_lrp.models.weights import OFFLINE_INSTALL, imagenet_weight_files

WEIGHTS = MobileNet_V2_Weights.IMAGENET1K_V1
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def imagenet_mobilenet():
    if not any(path.is_file() for path in imagenet_weight_files(WEIGHTS)):
        pytest.skip(f"MobileNetV2 ImageNet weights not installed: {OFFLINE_INSTALL}")
    return build_classifier("mobilenet_v2", 1000, weights="imagenet").eval()


@pytest.fixture(scope="module")
def chelsea() -> torch.Tensor:
    """scikit-image's photo of Chelsea the tabby cat, preprocessed as torchvision's weights expect."""
    data = pytest.importorskip("skimage.data", reason="scikit-image provides the test photo")
    image = torch.from_numpy(data.chelsea()).permute(2, 0, 1)
    return WEIGHTS.transforms()(image).unsqueeze(0)


def test_a_real_photo_of_a_tabby_lands_in_the_imagenet_cat_classes(imagenet_mobilenet, chelsea):
    with torch.no_grad():
        top5 = imagenet_mobilenet(chelsea)[0].topk(5).indices.tolist()
    names = imagenet_categories("mobilenet_v2")
    assert top5[0] in CATS, [names[k] for k in top5]
    assert len(set(top5) & set(CATS)) >= 2, [names[k] for k in top5]
    assert names[281] == "tabby" and len(names) == 1000


def test_unrolled_logits_equal_the_classifiers_and_heatmaps_its_input_x_gradient(imagenet_mobilenet, chelsea):
    with torch.no_grad():
        logits = imagenet_mobilenet(chelsea)
        top = logits[0].topk(2).indices.tolist()
        out = unroll(imagenet_mobilenet)(chelsea, classes=top)
    assert torch.equal(out.logits, logits)
    classifier = imagenet_mobilenet.double()
    try:
        x = chelsea.double()
        exact = unroll(classifier)(x, classes=top).heatmaps
        reference = input_x_gradient(classifier, x, classes=top)
        assert ((exact - reference).abs().max() / reference.abs().max()).item() < 1e-10
    finally:
        classifier.float()


def test_an_untied_decoder_started_from_the_backbone_holds_its_imagenet_weights(imagenet_mobilenet, tiny_voc, tmp_path):
    """``untied_init="backbone"`` (the authors' released code): the decoder's convolutions start from the backbone's
    ImageNet weights and its class bottleneck afresh, while the classifier is the one the run starts from."""
    from tiny_runs import tiny_data_args
    from unrolled_lrp.cli.main import main
    from unrolled_lrp.training.checkpoint import load

    common = [*tiny_data_args(tiny_voc), "--arch", "mobilenet_v2", "--optim.steps", "1", "--optim.lr", "1e-7"]
    main(
        [
            "train",
            *common,
            "--lrp.decoder_weights",
            "untied",
            "--lrp.untied_init",
            "backbone",
            "--out_dir",
            str(tmp_path),
        ]
    )
    state = load(tmp_path / "last.pt")["model"]
    decoder = {k.removeprefix("unrolled.decoder.weights."): v for k, v in state.items() if ".decoder." in k}
    imagenet = dict(imagenet_mobilenet.named_parameters())
    for name, weight in decoder.items():
        if name != "classifier_1":
            assert torch.allclose(weight, imagenet[name.replace("_", ".") + ".weight"], atol=1e-5), name
    assert decoder["classifier_1"].shape == (3, 1280)
    classifier = state["unrolled.classifier.features.0.0.weight"]
    assert not torch.allclose(classifier, imagenet["features.0.0.weight"], atol=1e-2)  # the run's own classifier
