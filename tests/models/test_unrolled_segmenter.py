"""Unrolled LRP and WS-AE behind the common segmentation interface."""

import pytest
import torch

from references import input_x_gradient, random_classifier, with_ratio_relu6
from unrolled_lrp.lrp import LRPConfig
from unrolled_lrp.models import build_model


def test_registered_unrolled_models_give_heatmaps_as_segmentation_logits():
    classifier = random_classifier("resnet18", num_classes=3)
    x = torch.randn(3, 3, 40, 40, dtype=torch.float64)
    mask = torch.tensor([False, True, True])
    out = build_model("unrolled_lrp", classifier, 3, heatmap_scale=1.0)(x, seg_mask=mask)
    assert torch.equal(out.class_logits, classifier(x))
    assert torch.allclose(out.seg_logits, input_x_gradient(classifier, x)[mask], rtol=1e-10, atol=1e-14)
    ws_ae = build_model("ws_ae", classifier, 3)
    assert ws_ae.uses_image_labels and ws_ae.unrolled.config.activations == "relu"
    assert ws_ae(x, seg_mask=torch.zeros(3, dtype=torch.bool)).seg_logits is None


def test_default_scale_makes_scores_relevance_densities_with_the_same_argmax():
    classifier = random_classifier("resnet18", num_classes=4)
    x = torch.randn(2, 3, 32, 48, dtype=torch.float64)
    literal = build_model("unrolled_lrp", classifier, 4, heatmap_scale=1.0)(x).seg_logits
    density = build_model("unrolled_lrp", classifier, 4)(x).seg_logits
    assert torch.allclose(density, literal * 32 * 48, rtol=1e-12)
    assert torch.equal(density.argmax(1), literal.argmax(1))


def test_relevance_scale_gives_unit_scores_per_image_with_the_same_argmax_and_a_fixed_constant():
    """The z+ and flat rules lose most of the logit on the way down: only a per-image normalisation gives them
    scores a softmax can use, and it must neither change the segmentation nor route gradient through the norm."""
    classifier = random_classifier("resnet18", num_classes=4)
    x = torch.randn(2, 3, 32, 48, dtype=torch.float64)
    lrp = LRPConfig(composite="epsilon_plus_flat")
    literal = build_model("unrolled_lrp", classifier, 4, heatmap_scale=1.0, lrp=lrp)(x).seg_logits
    model = build_model("unrolled_lrp", classifier, 4, lrp=lrp)
    assert model.heatmap_scale == "relevance"
    scores = model(x).seg_logits
    assert torch.allclose(scores.abs().mean(dim=(1, 2, 3)), torch.ones(2, dtype=torch.float64), rtol=1e-12)
    assert torch.equal(scores.argmax(1), literal.argmax(1))
    ratio = (scores / literal).flatten(1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-10)  # one positive constant per image
    weights = torch.randn_like(literal)
    (grad,) = torch.autograd.grad((scores * weights).sum(), model.unrolled.classifier.fc.weight)
    (literal_grad,) = torch.autograd.grad(
        (literal * weights * ratio[:, 0].detach().view(-1, 1, 1, 1)).sum(), classifier.fc.weight
    )
    assert torch.allclose(grad, literal_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("lrp", "scale"),
    [
        (LRPConfig(), "pixels"),
        (LRPConfig(composite="epsilon"), "pixels"),
        (LRPConfig(composite="epsilon", rules={"first": "flat"}), "relevance"),
        (LRPConfig(composite="epsilon_gamma_box", low=-2.0, high=2.5), "relevance"),
    ],
)
def test_auto_scale_keeps_densities_for_the_conservative_rules_only(lrp, scale):
    model = build_model("unrolled_lrp", random_classifier("resnet10", num_classes=3), 3, lrp=lrp)
    assert model.heatmap_scale == scale


@pytest.mark.parametrize("scale", [0.0, -1.0, "pixel"])
def test_invalid_heatmap_scale_is_rejected(scale):
    with pytest.raises(ValueError, match="heatmap_scale"):
        build_model("unrolled_lrp", random_classifier("resnet18", num_classes=3), 3, heatmap_scale=scale)


def test_lrp_options_reach_the_unrolled_model_whole():
    """A run's ``lrp`` settings reach the unrolled model as one LRPConfig; WS-AE keeps them but its activations."""
    classifier = random_classifier("mobilenet_v2@0.25", num_classes=3)
    x = 3 * torch.randn(2, 3, 32, 32, dtype=torch.float64)
    lrp = LRPConfig(relu6="ratio", class_chunk_size=2)
    model = build_model("unrolled_lrp", classifier, 3, heatmap_scale=1.0, lrp=lrp)
    assert model.unrolled.config == LRPConfig(relu6="ratio", class_chunk_size=2)
    out = model(x)
    assert torch.equal(out.class_logits, classifier(x))
    assert torch.allclose(out.seg_logits, input_x_gradient(with_ratio_relu6(classifier), x), rtol=1e-10, atol=1e-14)
    assert build_model("ws_ae", classifier, 3, lrp=lrp).unrolled.config == LRPConfig(
        activations="relu", relu6="ratio", class_chunk_size=2
    )


def test_the_readout_control_learns_only_a_per_class_affine_map_of_the_frozen_classifiers_heatmaps():
    classifier = random_classifier("resnet10", num_classes=3).train()
    lrp = LRPConfig(composite="epsilon_gamma_box", low=-2.0, high=2.5)
    model = build_model("lrp_readout", classifier, 3, lrp=lrp).train()
    statistics = [m.running_mean.clone() for m in classifier.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        model.readout_scale.copy_(torch.tensor([2.0, 0.5, 1.0]))
        model.readout_offset.copy_(torch.tensor([0.1, -0.2, 0.3]))
    out = model(x, seg_mask=2)
    reference = build_model("unrolled_lrp", classifier, 3, lrp=lrp).eval()(x[:2])
    expected = reference.seg_logits * torch.tensor([2.0, 0.5, 1.0]).view(-1, 1, 1) + torch.tensor(
        [0.1, -0.2, 0.3]
    ).view(-1, 1, 1)
    assert torch.allclose(out.seg_logits, expected, rtol=1e-12)
    assert torch.equal(out.class_logits, classifier.eval()(x))  # eval-mode BatchNorm: F1 kept by construction
    out.seg_logits.sum().backward()
    assert [name for name, p in model.named_parameters() if p.grad is not None] == ["readout_scale", "readout_offset"]
    now = [m.running_mean for m in classifier.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(statistics, now))
