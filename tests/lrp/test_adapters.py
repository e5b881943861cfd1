"""The adapter registry: families found by module type, precise errors for everything else."""

import pytest
import torch
import torchvision
from torch import nn

from references import random_classifier
from unrolled_lrp import UnsupportedLayerError, unroll
from unrolled_lrp.lrp import LRPConfig, adapter_for, register_adapter, supported_families

FAMILIES = ["ResNet", "VGG", "MobileNetV2", "nn.Sequential"]


@pytest.mark.parametrize(
    "build, kind",
    [
        (lambda: torchvision.models.efficientnet_b0(num_classes=3), "torchvision.models.efficientnet.EfficientNet"),
        (lambda: torchvision.models.vit_b_16(num_classes=3), "torchvision.models.vision_transformer.VisionTransformer"),
        (lambda: torchvision.models.mobilenet_v3_small(num_classes=3), "torchvision.models.mobilenetv3.MobileNetV3"),
    ],
    ids=["efficientnet_b0", "vit_b_16", "mobilenet_v3_small"],
)
def test_unsupported_families_are_named_with_the_supported_ones(build, kind):
    with pytest.raises(UnsupportedLayerError, match=rf"'<root>' of type {kind} \(no adapter") as error:
        unroll(build())
    assert all(family in str(error.value) for family in FAMILIES)


def test_unsupported_layer_inside_a_supported_family_is_named_by_path():
    classifier = random_classifier("mobilenet_v2@0.25", num_classes=3)
    classifier.features[2].conv[1][2] = nn.SiLU()  # EfficientNet's activation
    with pytest.raises(
        UnsupportedLayerError, match=r"'features\.2\.conv\.1\.2' of type torch\.nn\.modules\.activation\.SiLU"
    ):
        unroll(classifier)


def test_efficientnet_features_as_a_sequential_fail_at_the_first_silu():
    features = torchvision.models.efficientnet_b0().features
    net = nn.Sequential(features[0], nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 2))
    with pytest.raises(UnsupportedLayerError, match=r"'0\.2' of type .*SiLU"):
        unroll(net)


def test_every_family_has_an_adapter_and_subclasses_keeping_forward_are_served():
    assert {f.split(" ")[0] for f in supported_families()} == {"ResNet", "VGG", "MobileNetV2", "nn.Sequential"}

    class Renamed(torchvision.models.MobileNetV2):
        pass

    assert type(adapter_for(Renamed(width_mult=0.25))).__name__ == "MobileNetV2Adapter"


def test_a_family_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already has an adapter"):
        register_adapter(torchvision.models.VGG)(type(adapter_for(random_classifier("vgg11"))))


def test_lrp_config_validates_its_options():
    with pytest.raises(ValueError, match="relu6 must be 'auto' or 'gradient' or 'ratio', got 'clip'"):
        LRPConfig(relu6="clip")
    with pytest.raises(ValueError, match="class_chunk_size must be a positive integer"):
        LRPConfig(class_chunk_size=0)
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        LRPConfig(composite="epsilon", epsilon=0.0)
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        LRPConfig(alpha=3.0, beta=1.0)
    with pytest.raises(ValueError, match="low < high in every channel"):
        LRPConfig(low=[0.0, 1.0, 0.0], high=1.0)
    with pytest.raises(ValueError, match="set both zB bounds"):
        LRPConfig(low=0.0)
    with pytest.raises(ValueError, match=r"rules\['conv'\] must be"):
        LRPConfig(rules={"conv": "gama"})
    assert unroll(random_classifier("resnet18"), LRPConfig(composite="epsilon"), epsilon=0.5).config == LRPConfig(
        composite="epsilon", epsilon=0.5
    )
    assert LRPConfig(low=0.0, high=1.0).with_input_range([-2.0], [2.0]) == LRPConfig(low=0.0, high=1.0)
    assert LRPConfig().with_input_range([-2.0], [2.0]) == LRPConfig(low=[-2.0], high=[2.0])


def test_unrolled_sequential_with_relu6_and_depthwise_convolution_equals_input_x_gradient():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU6(), nn.Conv2d(6, 6, 3, stride=2, groups=6), nn.BatchNorm2d(6),
        nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 2),
    ).double().eval()  # fmt: skip
    x = 4 * torch.randn(2, 3, 11, 9, dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    logits = net(xg)
    reference = torch.stack(
        [(torch.autograd.grad(logits[:, k].sum(), xg, retain_graph=True)[0] * xg).sum(1) for k in range(2)], 1
    )
    heatmaps = unroll(net)(x).heatmaps
    assert ((heatmaps - reference).abs().max() / reference.abs().max()).item() < 1e-12
