"""LRP composites as tied decoders, against independent references (tests/composite_references.py), in float64:

- every preset equals zennit's composite of the same name, with the canonizers of the architecture, all classes;
- the user mapping (``rules``) reaches the layers it names, as zennit's name map does;
- all classes decoded at once equal one class at a time, and in chunks;
- each rule's conservation property (bias-free layers), and epsilon's absorption;
- gradients of a heatmap loss equal those through a naive relevance-form implementation;
- MobileNetV2's residual sum takes the LRP sum rule, where plain zennit duplicates relevance.

Models have BatchNorm eps = 0 (zennit's BatchNorm merge leaves x / sqrt(1 + eps) behind) and random BatchNorm
statistics; inputs are odd-sized, non-square, inside zB's box (ImageNet-normalised [0, 1] images).
"""

from __future__ import annotations

import functools
from fnmatch import fnmatchcase

import pytest
import torch
from torch import Tensor, nn
from torchvision.models.mobilenetv2 import InvertedResidual

from composite_references import (
    PRESETS,
    imagenet_input,
    modules_of,
    naive_composite_heatmaps,
    relative_error,
    zennit_canonizers,
    zennit_composite_heatmaps,
)
from references import bias_free, input_x_gradient, random_classifier
from unrolled_lrp import unroll
from unrolled_lrp.data.transforms import input_range
from unrolled_lrp.training import classification_loss, segmentation_loss

LOW, HIGH = input_range()
BOX = {"low": LOW, "high": HIGH}
NUM_CLASSES = 3
pytestmark = pytest.mark.usefixtures("single_thread")

#: float64 agreement: the decoders and zennit round differently, nothing more (measured at most 1.4e-12: LRP-epsilon
#: on resnet18, where a few z lie near epsilon; 1e-15 to 1e-13 elsewhere)
TOLERANCE = 1e-9


@functools.lru_cache(maxsize=1)  # the grid runs architecture by architecture; vgg16_bn is 1.1 GB in float64
def classifier(arch: str) -> nn.Module:
    return random_classifier(arch, num_classes=NUM_CLASSES, bn_eps=0.0)


def grid(archs: list[str], fast: set[tuple[str, str]]) -> list:
    """(arch, composite) for every preset, marked slow unless in ``fast``, architecture-major."""
    return [
        pytest.param(arch, composite, marks=() if (arch, composite) in fast else pytest.mark.slow)
        for arch in archs
        for composite in PRESETS
    ]


# -- every preset equals zennit ------------------------------------------------------------------------------------

ARCHS = ["resnet18", "resnet50", "vgg16_bn", "vgg_bn@tiny", "mobilenet_v2@0.25", "mobilenet_v2@1.0"]
FAST = {
    ("resnet18", "epsilon_gamma_box"),
    ("resnet18", "epsilon_plus"),
    ("vgg_bn@tiny", "epsilon_alpha2_beta1_flat"),
    ("vgg_bn@tiny", "zero"),
    ("mobilenet_v2@0.25", "epsilon_plus_flat"),
    ("mobilenet_v2@0.25", "epsilon"),
}


@pytest.mark.parametrize("arch,composite", grid(ARCHS, FAST))
def test_preset_equals_zennits_composite_for_all_classes(arch, composite):
    model = classifier(arch)
    x = imagenet_input(2, 3, 45, 37)
    out = unroll(model, composite=composite, **BOX)(x)
    assert out.heatmaps.shape == (2, NUM_CLASSES, 45, 37)
    assert relative_error(out.logits, model(x)) < 1e-12
    assert relative_error(out.heatmaps, zennit_composite_heatmaps(model, x, composite, **BOX)) < TOLERANCE


def test_zb_takes_scalar_bounds_as_zennit():
    model = classifier("mobilenet_v2@0.25")
    x = imagenet_input(2, 3, 41, 35)
    ours = unroll(model, composite="epsilon_gamma_box", low=-3.0, high=3.0)(x).heatmaps
    reference = zennit_composite_heatmaps(model, x, "epsilon_gamma_box", low=-3.0, high=3.0)
    assert relative_error(ours, reference) < TOLERANCE
    assert relative_error(ours, unroll(model, composite="epsilon_gamma_box", **BOX)(x).heatmaps) > 1e-3


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 9 * 7, 16), nn.ReLU(), nn.Linear(16, NUM_CLASSES)).double()


@pytest.mark.parametrize("composite", ["epsilon_gamma_box", "epsilon_plus_flat"])
def test_the_first_layer_is_zennits_first_convolution_for_zb_and_first_dense_or_convolution_for_flat(composite):
    """zennit's EpsilonGammaBox gives zB to the first *convolution*: a net of dense layers has none, and its first
    layer keeps epsilon; the flat composites give flat to the first dense layer or convolution."""
    model = mlp()
    x = imagenet_input(2, 3, 9, 7)
    ours = unroll(model, composite=composite, **BOX)(x).heatmaps
    assert relative_error(ours, zennit_composite_heatmaps(model, x, composite, **BOX)) < TOLERANCE


# -- the two references agree (which tests each of them) -----------------------------------------------------------

SMALL = ["resnet10", "vgg_bn@tiny", "mobilenet_v2@0.25"]
FAST_REFERENCES = {
    ("resnet10", "epsilon_gamma_box"),
    ("resnet10", "zero"),
    ("vgg_bn@tiny", "epsilon_plus_flat"),
    ("vgg_bn@tiny", "epsilon"),
    ("mobilenet_v2@0.25", "epsilon_alpha2_beta1_flat"),
    ("mobilenet_v2@0.25", "epsilon_plus"),
}


@pytest.mark.parametrize("arch,composite", grid(SMALL, FAST_REFERENCES))
def test_the_naive_reference_equals_zennit(arch, composite):
    model = classifier(arch)
    x = imagenet_input(2, 3, 37, 45)
    logits, naive = naive_composite_heatmaps(model, x, composite, **BOX)
    assert relative_error(logits, model(x)) < 1e-13
    reference = zennit_composite_heatmaps(model, x, composite, **BOX)
    assert relative_error(naive, reference) < 1e-12
    if composite == "zero":  # LRP-0 with ReLU6's gradient is input x gradient
        assert relative_error(reference, input_x_gradient(model, x)) < 1e-10


#: every rule at the input layer, the weight rules at a middle convolution and at a dense layer, the gate rules at
#: the average pool (vgg_bn@tiny: features.0 is the input layer, features.4 the second convolution)
LAYER_RULES = (
    [("features.0", rule) for rule in ["zero", "epsilon", "norm", "gamma", "zplus", "alpha_beta", "flat", "wsquare"]]
    + [("features.0", "zbox")]
    + [("features.4", rule) for rule in ["zero", "epsilon", "norm", "gamma", "zplus", "alpha_beta"]]
    + [("classifier.3", rule) for rule in ["gamma", "zplus", "alpha_beta"]]
    + [("avgpool", rule) for rule in ["zero", "epsilon", "norm"]]
)


@pytest.mark.parametrize("layer,rule", LAYER_RULES)
def test_each_rule_at_one_layer_equals_zennit_and_the_naive_reference(layer, rule):
    model = classifier("vgg_bn@tiny")
    x = imagenet_input(2, 3, 37, 45)
    params = {"epsilon": 0.01, "gamma": 0.5, "alpha": 3.0, "beta": 2.0, **BOX}  # not the defaults: they must arrive
    ours = unroll(model, composite="epsilon_plus", rules={layer: rule}, **params)(x).heatmaps
    reference = zennit_composite_heatmaps(model, x, "epsilon_plus", layer_rules={layer: rule}, **params)
    _, naive = naive_composite_heatmaps(model, x, "epsilon_plus", layer_rules={layer: rule}, **params)
    assert relative_error(naive, reference) < 1e-12
    assert relative_error(ours, reference) < TOLERANCE


# -- the user mapping ---------------------------------------------------------------------------------------------


def sums(model: nn.Module) -> list[str]:
    """zennit's names (after canonizing) of the residual sums of a ResNet or MobileNetV2."""
    blocks = [name for name, m in model.named_modules() if hasattr(m, "downsample") or _has_identity_shortcut(m)]
    return [f"{name}.canonizer_sum" for name in blocks]


def _has_identity_shortcut(module: nn.Module) -> bool:
    return isinstance(module, InvertedResidual) and module.use_res_connect


def convolutions(model: nn.Module, pattern: str = "*") -> list[str]:
    return [name for name in modules_of(model, nn.Conv2d) if fnmatchcase(name, pattern)]


#: (arch, composite, rules, zennit's name map as a function of the model)
USER_MAPPINGS = [
    ("resnet18", "epsilon_plus", {"layer2.0.conv2": "gamma"}, lambda m: {"layer2.0.conv2": "gamma"}),
    (
        "resnet18",
        "epsilon_plus",
        {"layer3.*.conv*": "alpha_beta", "layer4.0.downsample.0": "gamma", "fc": "zero"},
        lambda m: {
            **dict.fromkeys(convolutions(m, "layer3.*.conv*"), "alpha_beta"),
            "layer4.0.downsample.0": "gamma",
            "fc": "zero",
        },
    ),
    ("resnet18", "epsilon_plus", {"first": "zbox"}, lambda m: {"conv1": "zbox"}),
    ("resnet18", "epsilon", {"conv": "gamma"}, lambda m: dict.fromkeys(convolutions(m), "gamma")),
    (
        "resnet18",
        "epsilon_gamma_box",
        {"linear": "zero", "sum": "epsilon", "pool": "zero"},
        lambda m: {"fc": "zero", **dict.fromkeys(sums(m), "epsilon"), "avgpool": "zero"},
    ),
    (
        "mobilenet_v2@0.25",
        "epsilon_gamma_box",
        {"features.0.0": "flat", "features.3.conv.1.0": "zplus"},
        lambda m: {"features.0.0": "flat", "features.3.conv.1.0": "zplus"},
    ),
    (
        "mobilenet_v2@0.25",
        "epsilon_plus",
        {"sum": "zero", "pool": "epsilon"},
        lambda m: {**dict.fromkeys(sums(m), "zero"), "canonizer_pool": "epsilon"},
    ),
]
FAST_MAPPINGS = {1, 4, 5}


@pytest.mark.parametrize(
    "arch,composite,rules,name_map",
    [pytest.param(*case, marks=() if i in FAST_MAPPINGS else pytest.mark.slow) for i, case in enumerate(USER_MAPPINGS)],
)
def test_the_user_mapping_reaches_the_layers_it_names(arch, composite, rules, name_map):
    model = classifier(arch)
    x = imagenet_input(2, 3, 39, 33)
    ours = unroll(model, composite=composite, rules=rules, **BOX)(x).heatmaps
    reference = zennit_composite_heatmaps(model, x, composite, layer_rules=name_map(model), **BOX)
    assert relative_error(ours, reference) < TOLERANCE
    assert relative_error(ours, unroll(model, composite=composite, **BOX)(x).heatmaps) > 1e-6  # the mapping acted


# -- classes -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("composite", PRESETS)
def test_all_classes_at_once_equal_one_class_at_a_time_and_in_chunks(composite):
    model = classifier("mobilenet_v2@0.25")
    x = imagenet_input(2, 3, 37, 31)
    all_classes = unroll(model, composite=composite, **BOX)(x).heatmaps
    one_by_one = [unroll(model, composite=composite, **BOX)(x, classes=[k]).heatmaps for k in range(NUM_CLASSES)]
    assert relative_error(torch.cat(one_by_one, 1), all_classes) < 1e-13
    chunked = unroll(model, composite=composite, class_chunk_size=2, **BOX)(x, classes=[2, 0, 1]).heatmaps
    assert relative_error(chunked, all_classes[:, [2, 0, 1]]) < 1e-13


# -- conservation --------------------------------------------------------------------------------------------------


def conv_and_dense(height: int = 9, width: int = 11) -> nn.Sequential:
    """A bias-free convolution (the layer under test) and a bias-free dense layer (LRP-0 there: exact)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    return nn.Sequential(conv, nn.Flatten(), nn.Linear(4 * height * width, NUM_CLASSES, bias=False)).double()


@pytest.mark.parametrize("rule", ["zero", "gamma", "zplus", "alpha_beta", "flat", "wsquare", "zbox"])
def test_rule_conserves_relevance_through_a_bias_free_layer(rule):
    """sum_i R_i = sum_j R_j, up to the stabiliser (here 1e-30, below every denominator): the rule's denominators
    are the sums of its numerators (alpha-beta: alpha - beta = 1; zB: ``x w - l w+ - h w-`` summed)."""
    model = conv_and_dense()
    x = imagenet_input(2, 3, 9, 11)
    out = unroll(model, rules={"0": rule}, stabilizer=1e-30, alpha=3.0, beta=2.0, **BOX)(x)
    assert relative_error(out.heatmaps.sum((2, 3)), out.logits) < 1e-9


def test_epsilon_absorbs_the_fraction_epsilon_of_each_denominator():
    """LRP-epsilon does not conserve: output j passes on ``R_j z_j / (z_j + epsilon sign z_j)``."""
    model, epsilon = conv_and_dense(), 0.5
    x = imagenet_input(2, 3, 9, 11)
    out = unroll(model, rules={"0": "epsilon"}, epsilon=epsilon)(x)
    z = model[0](x).flatten(1)[:, None, :]  # (B, 1, J)
    relevance = z * model[2].weight  # LRP-0 at the dense layer: R_kj = z_j w_kj, (B, K, J)
    passed_on = (relevance * z / (z + epsilon * torch.where(z >= 0, 1.0, -1.0))).sum(-1)
    assert relative_error(out.heatmaps.sum((2, 3)), passed_on) < 1e-12
    assert relative_error(out.heatmaps.sum((2, 3)), out.logits) > 1e-2


@pytest.mark.parametrize("arch", [pytest.param(a, marks=() if a == "resnet10" else pytest.mark.slow) for a in SMALL])
@pytest.mark.parametrize("composite", ["zero", "epsilon_gamma_box"])
def test_presets_conserve_relevance_in_bias_free_networks_with_lrp0_on_dense_layers(arch, composite):
    """Sums and pools (Norm), max-pools, ReLU and ReLU6 (ratio), gamma and zB conserve. (z+ and alpha-beta lose
    the relevance of an output without positive contributions, e.g. a negative output of a convolution after a
    ReLU that feeds a residual sum: conserving only at single layers with inputs of both signs, tested above.)"""
    model = bias_free(classifier(arch))
    x = imagenet_input(2, 3, 37, 45)
    out = unroll(model, composite=composite, rules={"linear": "zero"}, relu6="ratio", stabilizer=1e-30, **BOX)(x)
    assert relative_error(out.heatmaps.sum((2, 3)), out.logits) < 1e-8


# -- gradients -----------------------------------------------------------------------------------------------------


def heatmap_loss(heatmaps: Tensor, logits: Tensor, target: Tensor, labels: Tensor) -> Tensor:
    """Pixel cross-entropy on the heatmaps plus BCE on the logits. The heatmaps are scaled to a largest magnitude
    of 1 (by a constant): random networks' heatmaps are tiny, and the logits' term would drown theirs."""
    scale = 1 / heatmaps.detach().abs().amax()
    return segmentation_loss(heatmaps * scale, target) + classification_loss(logits, labels)


def batch(h: int, w: int, seed: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, NUM_CLASSES, (2, h, w), generator=g)
    target[:, :3] = 255
    return imagenet_input(2, 3, h, w, seed=seed), target, torch.randint(0, 2, (2, NUM_CLASSES), generator=g).double()


FAST_GRADIENTS = {
    ("resnet10", "epsilon_gamma_box"),
    ("resnet10", "epsilon"),
    ("vgg_bn@tiny", "epsilon_plus"),
    ("vgg_bn@tiny", "epsilon_alpha2_beta1_flat"),
    ("mobilenet_v2@0.25", "epsilon_plus_flat"),
}


@pytest.mark.parametrize("arch,composite", grid(SMALL, FAST_GRADIENTS))
def test_parameter_gradients_equal_the_naive_reference(arch, composite):
    """To 1e-8 of each parameter's largest gradient, not 1e-12: epsilon divides by ``z + epsilon sign z``, and
    where ``|z|`` is near epsilon its derivative amplifies the last-digit difference between our ``z`` and the
    reference's (BatchNorm applied vs folded) by ``|z| / epsilon``; measured: up to 2e-10 (LRP-0: 1e-13)."""
    model = classifier(arch)
    x, target, labels = batch(33, 35)
    params = dict(model.named_parameters())
    out = unroll(model, composite=composite, **BOX)(x)
    ours = torch.autograd.grad(heatmap_loss(out.heatmaps, out.logits, target, labels), list(params.values()))
    logits, heatmaps = naive_composite_heatmaps(model, x, composite, **BOX)
    reference = torch.autograd.grad(heatmap_loss(heatmaps, logits, target, labels), list(params.values()))
    for name, a, b in zip(params, ours, reference):
        assert relative_error(a, b) < 1e-8, name


# -- MobileNetV2's residual sum ------------------------------------------------------------------------------------


def one_block(channels: int = 4) -> nn.Sequential:
    """A stem convolution, a single InvertedResidual with an identity shortcut, average-pooled into a dense layer;
    bias-free."""
    torch.manual_seed(0)
    stem = [nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
    block = InvertedResidual(channels, channels, stride=1, expand_ratio=2)
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, NUM_CLASSES, bias=False)]
    model = nn.Sequential(*stem, block, *head)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 0.0
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    return bias_free(model).double().eval()


#: zB at the stem, gamma on the block's convolutions, LRP-0 at the dense layer ("5"): all conserve when bias-free
ONE_BLOCK = {"composite": "epsilon_gamma_box", "stabilizer": 1e-30, **BOX}


def test_mobilenet_v2_residual_sum_takes_the_sum_rule_where_plain_zennit_duplicates_relevance():
    """The sum rule splits ``R`` at ``x + y`` into ``x R / (x + y)`` and ``y R / (x + y)``, so a bias-free block
    conserves relevance; plain zennit treats the addition as a gradient and sends all of ``R`` down both
    branches, doubling it (next test). With the sum canonized (InvertedResidualCanonizer), zennit agrees with us."""
    model = one_block()
    x = imagenet_input(2, 3, 11, 9)
    out = unroll(model, rules={"linear": "zero"}, **ONE_BLOCK)(x)
    assert relative_error(out.heatmaps.sum((2, 3)), out.logits) < 1e-9
    _, naive = naive_composite_heatmaps(model, x, layer_rules={"5": "zero"}, **ONE_BLOCK)
    assert relative_error(out.heatmaps, naive) < TOLERANCE
    canonized = zennit_composite_heatmaps(model, x, layer_rules={"5": "zero"}, **ONE_BLOCK)
    assert relative_error(out.heatmaps, canonized) < TOLERANCE


def test_plain_zennit_doubles_relevance_through_an_identity_shortcut(monkeypatch):
    """The difference the previous test avoids, pinned: without the sum canonizer zennit's total is twice the
    logit on the same bias-free block."""
    import composite_references

    model = one_block()
    x = imagenet_input(2, 3, 11, 9)
    monkeypatch.setattr(composite_references, "zennit_canonizers", lambda m: zennit_canonizers(m)[:1])
    plain = zennit_composite_heatmaps(model, x, layer_rules={"5": "zero"}, **ONE_BLOCK)
    assert relative_error(plain.sum((2, 3)), 2 * model(x)) < 1e-9
