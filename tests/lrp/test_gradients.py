"""Training through the unrolled decoder gives autograd's double-backprop gradients."""

import pytest
import torch
import torch.nn.functional as F

from references import input_x_gradient, random_classifier
from unrolled_lrp import unroll


def combined_loss(heatmaps, logits, target, labels):
    """Pixel-wise softmax cross-entropy over the heatmaps plus per-class BCE with background weight 0."""
    weight = torch.ones(logits.shape[1], dtype=logits.dtype)
    weight[0] = 0
    cls = F.binary_cross_entropy_with_logits(logits, labels, weight=weight)
    return F.cross_entropy(heatmaps, target, ignore_index=255) + cls


def batch(num_classes, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, h, w, generator=g, dtype=torch.float64)
    target = torch.randint(0, num_classes, (2, h, w), generator=g)
    target[:, :3] = 255
    labels = torch.randint(0, 2, (2, num_classes), generator=g).double()
    return x, target, labels


@pytest.mark.parametrize("arch", ["resnet10", "vgg11_bn"])
def test_parameter_gradients_equal_double_backprop(arch):
    classifier = random_classifier(arch, num_classes=3)
    x, target, labels = batch(3, 33, 35)
    model = unroll(classifier)
    out = model(x)
    ours = torch.autograd.grad(combined_loss(out.heatmaps, out.logits, target, labels), list(model.parameters()))

    logits = classifier(x)
    heatmaps = input_x_gradient(classifier, x, create_graph=True)
    reference = torch.autograd.grad(combined_loss(heatmaps, logits, target, labels), list(classifier.parameters()))
    for (name, _), a, b in zip(classifier.named_parameters(), ours, reference):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12 * b.abs().max()), name


def _heatmap_loss_gradient_of_biases(rule):
    classifier = random_classifier("resnet18", num_classes=3)
    x, target, _ = batch(3, 32, 32)
    out = unroll(classifier, composite=rule, epsilon=0.01)(x)
    biases = [m.bias for m in classifier.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    loss = F.cross_entropy(out.heatmaps, target, ignore_index=255)
    grads = torch.autograd.grad(loss, biases, allow_unused=True)  # None: not even in the graph
    return [torch.zeros_like(b) if g is None else g for b, g in zip(biases, grads)]


def test_lrp0_heatmap_loss_reaches_the_encoder_only_through_the_tied_weights():
    """Paper 2.4.1: Heaviside gates have zero derivative, so pre-activations (biases) get no gradient."""
    assert all(torch.count_nonzero(g) == 0 for g in _heatmap_loss_gradient_of_biases("zero"))


def test_epsilon_heatmap_loss_reaches_the_encoder_pre_activations():
    assert all(torch.count_nonzero(g) > 0 for g in _heatmap_loss_gradient_of_biases("epsilon"))
