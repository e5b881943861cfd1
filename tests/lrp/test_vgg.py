"""The VGG family's adapter: convolution blocks, max-pools, the adaptive 7x7 average pooling and the MLP head with
tied dropout masks unrolled exactly, with and without BatchNorm; the stages, head and output layer it names; the
builder names it serves (float64, narrow VGGs of torchvision's own class)."""

import pytest
import torch
import torchvision

from references import freeze_batch_statistics, input_x_gradient, random_classifier, recorded
from unrolled_lrp import unroll
from unrolled_lrp.lrp import adapter_for
from unrolled_lrp.models import build_encoder, supported_architectures

TINY = ["vgg@tiny", "vgg_bn@tiny"]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("arch", TINY)
@pytest.mark.parametrize("size", [(45, 37), (100, 75), (230, 250)], ids=["1x1", "3x2", "7x7"])
def test_lrp0_equals_input_x_gradient_whatever_the_adaptive_pooling_does(arch, size):
    """The last map is 1x1 (replicated to 7x7), 3x2 (overlapping windows) or 7x7 (identity) before the head."""
    classifier = random_classifier(arch, num_classes=4)
    x = torch.randn(1, 3, *size, dtype=torch.float64)
    out = unroll(classifier)(x)
    assert torch.equal(out.logits, classifier(x))
    assert relative_error(out.heatmaps, input_x_gradient(classifier, x)) < 1e-10


def test_train_mode_ties_the_dropout_masks_and_uses_the_batch_statistics():
    classifier = random_classifier("vgg_bn@tiny", num_classes=3).train()
    x = torch.randn(3, 3, 40, 44, dtype=torch.float64)
    reference = freeze_batch_statistics(classifier, x)  # its BatchNorms frozen, its dropout still active
    torch.manual_seed(3)
    out = unroll(classifier)(x)
    torch.manual_seed(3)
    expected = input_x_gradient(reference, x)  # one forward: the same dropout masks as ours
    assert relative_error(out.heatmaps, expected) < 1e-10
    assert relative_error(out.heatmaps, unroll(classifier.eval())(x).heatmaps) > 1e-3  # masks and statistics mattered


@pytest.mark.parametrize("arch", TINY)
def test_a_stage_ends_at_each_max_pool_and_the_head_finishes_the_forward(arch):
    classifier = random_classifier(arch, num_classes=4)
    pools = [m for m in classifier.features if isinstance(m, torch.nn.MaxPool2d)]
    x = torch.randn(1, 3, 64, 96, dtype=torch.float64)
    logits, seen = recorded(classifier, x, [(pool, "in") for pool in pools] + [(pools[-1], "out")])
    adapter = adapter_for(classifier)
    features = build_encoder(classifier)(x)
    assert [s.stride for s in adapter.stages(classifier)] == [1, 2, 4, 8, 16, 32]
    assert [s.channels for s in adapter.stages(classifier)] == [8, 16, 16, 32, 32, 32]
    assert all(torch.equal(a, b) for a, b in zip(features, seen))  # each pool's input, then the last pool's output
    assert torch.equal(adapter.head(classifier)(features[-1]), logits)


def test_the_output_layer_is_the_last_linear_and_replacing_it_changes_the_classes():
    classifier = random_classifier("vgg@tiny", num_classes=4)
    adapter = adapter_for(classifier)
    assert adapter.output_layer(classifier) is classifier.classifier[-1]
    adapter.replace_output_layer(classifier, torch.nn.Linear(32, 6, dtype=torch.float64))
    assert unroll(classifier)(torch.randn(1, 3, 32, 32, dtype=torch.float64)).heatmaps.shape == (1, 6, 32, 32)


def test_it_serves_every_torchvision_vgg():
    builders = torchvision.models.list_models(module=torchvision.models)
    family = {name for name in builders if name.startswith("vgg")}
    assert len(family) == 8 and family <= set(supported_architectures())
