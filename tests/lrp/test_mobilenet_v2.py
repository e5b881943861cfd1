"""MobileNetV2 unrolled exactly: ReLU6 in both modes, depthwise convolutions, inverted residuals (float64)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from references import (
    bias_free,
    freeze_batch_statistics,
    input_x_gradient,
    random_classifier,
    relu6_inputs,
    with_ratio_relu6,
)
from unrolled_lrp import LRPConfig, unroll

TINY = "mobilenet_v2@0.25"  # 2.3 M -> 0.3 M parameters at 4 classes; every block type of the full net


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def saturating_input(classifier: nn.Module, *shape: int, seed: int = 0) -> torch.Tensor:
    """An input on which some ReLU6 units saturate (z > 6), so that the two ReLU6 modes differ."""
    x = 6 * torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    assert (relu6_inputs(classifier, x) > 6).sum() >= 10
    return x


@pytest.mark.parametrize("arch", [TINY, "mobilenet_v2@1.0"])
def test_gradient_mode_equals_input_x_gradient_for_all_classes_in_eval_mode(arch):
    classifier = random_classifier(arch, num_classes=4)
    x = saturating_input(classifier, 2, 3, 37, 29)  # odd, non-square
    out = unroll(classifier)(x)
    assert out.heatmaps.shape == (2, 4, 37, 29)
    assert torch.equal(out.logits, classifier(x))
    assert relative_error(out.heatmaps, input_x_gradient(classifier, x)) < 1e-10


def test_gradient_mode_in_train_mode_equals_input_x_gradient_with_batch_statistics_held_constant():
    classifier = random_classifier(TINY, num_classes=3).train()
    classifier.classifier[0].eval()  # dropout: its tied masks are tested for VGG
    x = saturating_input(classifier, 3, 3, 41, 35)
    reference = freeze_batch_statistics(classifier, x)
    out = unroll(classifier)(x)
    assert relative_error(out.logits, reference(x)) < 1e-12
    assert relative_error(out.heatmaps, input_x_gradient(reference, x)) < 1e-10


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_ratio_mode_equals_lrp0_with_relu6_ratio_by_autograd(train):
    classifier = random_classifier(TINY, num_classes=4)
    x = saturating_input(classifier, 2, 3, 39, 33)
    reference = classifier
    if train:
        classifier.train().classifier[0].eval()
        reference = freeze_batch_statistics(classifier, x)
    out = unroll(classifier, relu6="ratio")(x)
    assert relative_error(out.heatmaps, input_x_gradient(with_ratio_relu6(reference), x)) < 1e-10
    assert relative_error(out.heatmaps, unroll(classifier)(x).heatmaps) > 1e-3  # the modes differ here


def test_ratio_mode_conserves_relevance_in_bias_free_nets_and_gradient_mode_loses_the_saturated_part():
    classifier = bias_free(random_classifier(TINY, num_classes=4))
    x = saturating_input(classifier, 2, 3, 40, 36)
    ratio = unroll(classifier, relu6="ratio")(x)
    assert relative_error(ratio.heatmaps.sum(dim=(2, 3)), ratio.logits) < 1e-10
    gradient = unroll(classifier)(x)
    assert relative_error(gradient.heatmaps.sum(dim=(2, 3)), gradient.logits) > 1e-3


def test_both_modes_conserve_relevance_when_nothing_saturates():
    classifier = bias_free(random_classifier(TINY, num_classes=4))
    x = 0.01 * torch.randn(2, 3, 40, 36, dtype=torch.float64)
    assert relu6_inputs(classifier, x).max() < 6
    for relu6 in ("gradient", "ratio"):
        out = unroll(classifier, relu6=relu6)(x)
        assert relative_error(out.heatmaps.sum(dim=(2, 3)), out.logits) < 1e-10


@pytest.mark.parametrize("relu6", ["gradient", "ratio"])
def test_epsilon_rule_converges_to_lrp0_in_both_modes(relu6):
    classifier = random_classifier(TINY, num_classes=3)
    x = saturating_input(classifier, 1, 3, 32, 32)
    exact = unroll(classifier, relu6=relu6)(x).heatmaps
    errors = [
        relative_error(unroll(classifier, composite="epsilon", epsilon=e, relu6=relu6)(x).heatmaps, exact)
        for e in (1e-2, 1e-6, 1e-10)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-6


def _combined_loss(heatmaps, logits, target, labels):
    return F.cross_entropy(heatmaps, target, ignore_index=255) + F.binary_cross_entropy_with_logits(logits, labels)


def test_parameter_gradients_equal_double_backprop():
    classifier = random_classifier(TINY, num_classes=3)
    g = torch.Generator().manual_seed(1)
    x = saturating_input(classifier, 2, 3, 33, 35)
    target = torch.randint(0, 3, (2, 33, 35), generator=g)
    labels = torch.randint(0, 2, (2, 3), generator=g).double()
    model = unroll(classifier)
    out = model(x)
    ours = torch.autograd.grad(_combined_loss(out.heatmaps, out.logits, target, labels), list(model.parameters()))

    heatmaps = input_x_gradient(classifier, x, create_graph=True)
    loss = _combined_loss(heatmaps, classifier(x), target, labels)
    reference = torch.autograd.grad(loss, list(classifier.parameters()))
    for (name, _), a, b in zip(classifier.named_parameters(), ours, reference):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12 * b.abs().max()), name


def test_ratio_mode_parameter_gradients_equal_finite_differences():
    """The ratio gate 6 / z is differentiable and not detached: training follows the heatmaps it computes.
    (Central differences rather than double backprop of the reference: autograd's double backward of that
    reference, through torchvision's graph, disagrees with its own finite differences by 0.2% on BatchNorm
    weights, while ours agrees with them to 1e-9.)"""
    classifier = random_classifier(TINY, num_classes=2)
    x = saturating_input(classifier, 1, 3, 16, 16)
    model = unroll(classifier, relu6="ratio")

    def loss() -> torch.Tensor:
        return model(x).heatmaps.square().sum()

    parameters = dict(classifier.named_parameters())
    names = ["features.0.1.weight", "features.2.conv.1.0.weight", "features.17.conv.2.weight", "classifier.1.weight"]
    grads = torch.autograd.grad(loss(), [parameters[name] for name in names])
    for name, grad in zip(names, grads):
        flat = parameters[name].data.view(-1)
        for i in range(2):
            flat[i] += 1e-6
            up = loss().item()
            flat[i] -= 2e-6
            down = loss().item()
            flat[i] += 1e-6
            assert (up - down) / 2e-6 == pytest.approx(
                grad.view(-1)[i].item(), rel=1e-6, abs=1e-9 * grad.abs().max().item()
            ), name


def test_tying_parameters_and_state_dict_are_the_classifiers():
    classifier = random_classifier(TINY, num_classes=3)
    model = unroll(classifier, LRPConfig(relu6="ratio"))
    assert [id(p) for p in model.parameters()] == [id(p) for p in classifier.parameters()]
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in classifier.parameters())
    assert list(model.state_dict()) == [f"classifier.{k}" for k in classifier.state_dict()]

    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    other = random_classifier(TINY, num_classes=3, seed=1)
    model.load_state_dict({f"classifier.{k}": v for k, v in other.state_dict().items()})
    assert relative_error(model(x).heatmaps, input_x_gradient(with_ratio_relu6(other), x)) < 1e-10


def test_describe_shows_depthwise_convolutions_relu6_and_the_functional_pooling():
    text = unroll(random_classifier(TINY, num_classes=3), relu6="ratio").describe()
    assert "relu6=ratio" in text
    assert "features.1.conv.0.0: Conv2d 8->8 k(3, 3) s(1, 1) + BatchNorm + ReLU6" in text
    assert "groups=8" in text and "} sum " in text and "adaptive_avg_pool2d" in text
