"""Parameter counts at 21 classes (PASCAL VOC), pinned so the numbers quoted in unet.py/fcn.py stay true.

Paper, for comparison: ResNet50 UNet 38.84M, ResNet18 UNet 18.81M, unrolled ResNet50 23.55M.
Run with ``-s`` to see the table.
"""

import pytest
from torch import nn

from unrolled_lrp.lrp import LRPConfig
from unrolled_lrp.models import build_classifier, build_model, classifier_head, count_parameters

VOC_CLASSES = 21


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("resnet18", {"unet": 14_328_421, "mt_unet": 14_339_194, "fcn": 12_764_053}),
        ("resnet50", {"unet": 32_521_317, "mt_unet": 32_564_346, "fcn": 48_433_173}),
        ("mobilenet_v2", {"unet": 6_629_157, "mt_unet": 6_656_058, "fcn": 3_368_501}),
    ],
)
def test_parameter_counts(arch, expected):
    classifier = build_classifier(arch, VOC_CLASSES)
    classifier_total = count_parameters(classifier)
    head = count_parameters(classifier_head(classifier))
    print(f"\n{arch} classifier: {classifier_total:,} (encoder {classifier_total - head:,})")
    counts = {}
    for name in expected:
        model = build_model(name, build_classifier(arch, VOC_CLASSES), VOC_CLASSES)
        counts[name] = count_parameters(model)
        decoder = counts[name] - count_parameters(model.encoder)
        print(f"{arch} {name}: {counts[name]:,} (decoder and heads {decoder:,})")
        # the encoder is exactly the classifier without its head
        assert count_parameters(model.encoder) == classifier_total - head
    assert counts == expected
    assert counts["mt_unet"] == counts["unet"] + head  # the class branch is the classifier's head


@pytest.mark.parametrize(
    ("arch", "expected"), [("resnet50", 23_551_061), ("vgg16_bn", 134_355_029), ("mobilenet_v2", 2_250_773)]
)
def test_unrolled_models_have_exactly_the_classifiers_parameters(arch, expected):
    for name in ("unrolled_lrp", "ws_ae"):
        classifier = build_classifier(arch, VOC_CLASSES)
        assert count_parameters(build_model(name, classifier, VOC_CLASSES)) == count_parameters(classifier) == expected


@pytest.mark.parametrize(
    ("arch", "expected"), [("resnet50", 47_048_981), ("vgg16_bn", 268_689_173), ("mobilenet_v2", 4_467_413)]
)
def test_an_untied_decoder_adds_a_copy_of_every_convolution_and_dense_weight(arch, expected):
    """The authors' released code trains 47.05 M parameters for a 23.5 M ResNet50 at 21 classes: the same count as
    an untied decoder's (issue 18)."""
    classifier = build_classifier(arch, VOC_CLASSES)
    weights = sum(m.weight.numel() for m in classifier.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    model = build_model("unrolled_lrp", classifier, VOC_CLASSES, lrp=LRPConfig(decoder_weights="untied"))
    assert count_parameters(model) == count_parameters(classifier) + weights == expected


def test_shared_parameters_are_counted_once():
    classifier = build_classifier("resnet18", VOC_CLASSES)
    model = build_model("mt_unet", classifier, VOC_CLASSES)
    assert count_parameters(model) == count_parameters(model.encoder) + count_parameters(
        model.decoder
    ) + count_parameters(model.seg_head) + count_parameters(classifier.fc)
