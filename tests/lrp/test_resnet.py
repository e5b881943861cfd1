"""The ResNet family's adapter: residual blocks of every kind unrolled exactly (against autograd), the stages, the
head and the output layer it names, the builder names it serves (float64, small nets of torchvision's own classes).
Equality with zennit's composites on the full-size nets: tests/lrp/test_exactness.py and test_composites.py."""

import pytest
import torch
import torchvision
from torch import nn

from references import freeze_batch_statistics, input_x_gradient, random_classifier, recorded
from unrolled_lrp import unroll
from unrolled_lrp.lrp import adapter_for
from unrolled_lrp.models import build_encoder, supported_architectures

#: BasicBlocks (resnet10) and grouped Bottlenecks (resnext@tiny), each with a down-sampling shortcut in stages 2-4.
TINY = ["resnet10", "resnext@tiny"]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("arch", TINY)
def test_lrp0_equals_input_x_gradient_for_all_classes_in_eval_and_train_mode(arch):
    classifier = random_classifier(arch, num_classes=4)
    x = torch.randn(2, 3, 45, 37, dtype=torch.float64)  # odd, non-square: every stride rounds
    assert relative_error(unroll(classifier)(x).heatmaps, input_x_gradient(classifier, x)) < 1e-10
    classifier.train()
    reference = freeze_batch_statistics(classifier, x)
    out = unroll(classifier)(x)
    assert relative_error(out.logits, reference(x)) < 1e-12
    assert relative_error(out.heatmaps, input_x_gradient(reference, x)) < 1e-10


@pytest.mark.parametrize("arch", TINY)
def test_stages_are_the_outputs_of_the_resnets_own_forward_and_the_head_finishes_it(arch):
    classifier = random_classifier(arch, num_classes=4)
    x = torch.randn(1, 3, 64, 96, dtype=torch.float64)
    names = ("relu", "layer1", "layer2", "layer3", "layer4")
    logits, seen = recorded(classifier, x, [(getattr(classifier, name), "out") for name in names])
    adapter = adapter_for(classifier)
    features = build_encoder(classifier)(x)
    assert [s.stride for s in adapter.stages(classifier)] == [2, 4, 8, 16, 32] == [64 // f.shape[2] for f in features]
    assert all(torch.equal(a, b) for a, b in zip(features, seen))
    assert torch.equal(adapter.head(classifier)(features[-1]), logits)
    assert adapter.stride(classifier) == 32


def test_the_output_layer_is_fc_and_replacing_it_changes_the_classes():
    classifier = random_classifier("resnet10", num_classes=4)
    adapter = adapter_for(classifier)
    assert adapter.output_layer(classifier) is classifier.fc
    adapter.replace_output_layer(classifier, nn.Linear(512, 7, dtype=torch.float64))
    assert classifier(torch.randn(1, 3, 32, 32, dtype=torch.float64)).shape == (1, 7)
    assert unroll(classifier).num_classes == 7


def test_it_serves_every_torchvision_resnet_resnext_and_wide_resnet_and_subclasses_keeping_forward():
    builders = torchvision.models.list_models(module=torchvision.models)
    family = {name for name in builders if name.startswith(("resnet", "resnext", "wide_resnet"))}
    assert family and family <= set(supported_architectures())

    class Tagged(torchvision.models.ResNet):
        """A subclass that adds nothing to the forward pass."""

    classifier = Tagged(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1], num_classes=3).double().eval()
    x = torch.randn(1, 3, 33, 31, dtype=torch.float64)
    assert relative_error(unroll(classifier)(x).heatmaps, input_x_gradient(classifier, x)) < 1e-10


def test_describe_names_the_residual_sums_and_the_shortcut_convolutions():
    text = unroll(random_classifier("resnet10", num_classes=3)).describe()
    assert "layer2.0.downsample.0" in text and "} sum " in text and "maxpool" in text
