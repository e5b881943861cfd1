"""Encoders share the classifier's Parameters and return the documented stages."""

import pytest
import torch
import torchvision
from torch import nn

from unrolled_lrp.models import build_classifier, build_encoder, classifier_head

RESNET18 = ((64, 64, 128, 256, 512), (2, 4, 8, 16, 32))
RESNET50 = ((64, 256, 512, 1024, 2048), (2, 4, 8, 16, 32))
VGG = ((64, 128, 256, 512, 512, 512), (1, 2, 4, 8, 16, 32))
MOBILENET_V2 = ((16, 24, 32, 96, 1280), (2, 4, 8, 16, 32))


@pytest.mark.parametrize(
    ("arch", "expected"),
    [("resnet18", RESNET18), ("resnet50", RESNET50), ("vgg11_bn", VGG), ("vgg16", VGG), ("mobilenet_v2", MOBILENET_V2)],
)
def test_stage_shapes_and_shared_parameters(arch, expected):
    classifier = build_classifier(arch, num_classes=4).eval()
    encoder = build_encoder(classifier)
    channels, strides = expected
    assert (encoder.channels, encoder.strides) == expected

    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        features = encoder(x)
        assert [f.shape[1:] for f in features] == [(c, 64 // s, 96 // s) for c, s in zip(channels, strides)]
        # the bottleneck is what the classifier's head consumes
        assert torch.equal(classifier_head(classifier)(features[-1]), classifier(x))

    classifier_params = list(classifier.parameters())
    head_params = list(classifier_head(classifier)[-1].parameters())
    encoder_params = list(encoder.parameters())
    assert all(any(p is q for q in classifier_params) for p in encoder_params)
    trunk = [p for p in classifier_params if not any(p is q for q in head_params)]
    assert len(encoder_params) == len(trunk)
    first_conv = next(m for m in classifier.modules() if isinstance(m, nn.Conv2d))
    assert next(m for m in encoder.stages[0].modules() if isinstance(m, nn.Conv2d)).weight is first_conv.weight


def test_training_the_encoder_trains_the_classifier():
    classifier = build_classifier("resnet18", num_classes=4)
    encoder = build_encoder(classifier)
    before = classifier.layer4[1].conv2.weight.detach().clone()
    encoder(torch.randn(2, 3, 64, 64))[-1].sum().backward()
    torch.optim.SGD(encoder.parameters(), lr=0.1).step()
    assert not torch.equal(classifier.layer4[1].conv2.weight, before)


@pytest.mark.parametrize("model", [torchvision.models.mobilenet_v3_small(), nn.Sequential(nn.Conv2d(3, 8, 3))])
def test_unsupported_classifier_type_is_named(model):
    with pytest.raises(TypeError, match=type(model).__name__):
        build_encoder(model)
