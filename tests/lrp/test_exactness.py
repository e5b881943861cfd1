"""LRP-0 of the unrolled decoder equals input x gradient, and LRP-epsilon equals zennit's."""

import pytest
import torch

from references import freeze_batch_statistics, input_x_gradient, random_classifier, zennit_heatmaps
from unrolled_lrp import unroll

RESNETS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2"]
VGGS = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("arch", RESNETS + VGGS)
def test_lrp0_equals_input_x_gradient_for_all_classes_in_eval_mode(arch):
    classifier = random_classifier(arch, num_classes=4)
    x = torch.randn(2, 3, 45, 37, dtype=torch.float64)  # odd, non-square
    out = unroll(classifier)(x)
    assert out.heatmaps.shape == (2, 4, 45, 37)
    assert torch.equal(out.logits, classifier(x))
    assert relative_error(out.heatmaps, input_x_gradient(classifier, x)) < 1e-10


@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "vgg11_bn"])
def test_lrp0_in_train_mode_equals_input_x_gradient_with_batch_statistics_held_constant(arch):
    classifier = random_classifier(arch, num_classes=3).train()
    for m in classifier.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    x = torch.randn(3, 3, 41, 35, dtype=torch.float64)
    reference = freeze_batch_statistics(classifier, x)
    out = unroll(classifier)(x)
    assert relative_error(out.logits, reference(x)) < 1e-12
    assert relative_error(out.heatmaps, input_x_gradient(reference, x)) < 1e-10


def test_dropout_masks_are_tied_in_train_mode():
    classifier = random_classifier("vgg11", num_classes=3).train()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    torch.manual_seed(7)
    out = unroll(classifier)(x)
    torch.manual_seed(7)
    reference = input_x_gradient(classifier, x)  # one forward: the same dropout masks as ours
    assert relative_error(out.heatmaps, reference) < 1e-10
    torch.manual_seed(7)
    assert torch.equal(out.logits, classifier(x))
    assert relative_error(out.heatmaps, unroll(classifier.eval())(x).heatmaps) > 1e-3  # the masks mattered


@pytest.mark.parametrize("arch", ["resnet18", "vgg11_bn"])
@pytest.mark.parametrize("epsilon", [1e-9, 0.1])
def test_epsilon_rule_equals_zennit(arch, epsilon):
    classifier = random_classifier(arch, num_classes=3, bn_eps=0.0)
    x = torch.randn(2, 3, 48, 40, dtype=torch.float64)
    ours = unroll(classifier, composite="epsilon", epsilon=epsilon)(x).heatmaps
    assert relative_error(ours, zennit_heatmaps(classifier, x, epsilon)) < 1e-11


@pytest.mark.parametrize("arch", ["resnet18", "vgg11_bn"])
def test_lrp0_equals_zennit_with_vanishing_epsilon(arch):
    classifier = random_classifier(arch, num_classes=3, bn_eps=0.0)
    x = torch.randn(2, 3, 40, 48, dtype=torch.float64)
    # zennit divides by z + 1e-12, so near-zero pre-activations leave a tiny gap
    assert relative_error(unroll(classifier)(x).heatmaps, zennit_heatmaps(classifier, x, 1e-12)) < 1e-7


def test_epsilon_rule_differs_from_lrp0_and_converges_to_it():
    classifier = random_classifier("resnet18", num_classes=3)
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    exact = unroll(classifier)(x).heatmaps
    assert relative_error(unroll(classifier, composite="epsilon", epsilon=1.0)(x).heatmaps, exact) > 1e-2
    errors = [
        relative_error(unroll(classifier, composite="epsilon", epsilon=e)(x).heatmaps, exact)
        for e in (1e-4, 1e-8, 1e-12)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-7
