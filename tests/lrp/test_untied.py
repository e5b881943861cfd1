"""The untied decoder (issue 18): its own copy of every convolution and dense weight, separate from the
classifier's, while gates, switches, BatchNorm slopes and the rules' denominators stay the classifier's."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from references import random_classifier
from unrolled_lrp import unroll
from unrolled_lrp.models import count_parameters

ARCHS = ["resnet10", "vgg_bn@tiny", "mobilenet_v2@0.25"]


def _loss(out, target):
    return F.cross_entropy(out.heatmaps / out.heatmaps.abs().amax(), target) + out.logits.square().mean()


def _layers(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("composite", ["zero", "epsilon_gamma_box"])
def test_a_fresh_untied_decoder_gives_the_tied_heatmaps_and_owns_separate_weights(arch, composite):
    classifier = random_classifier(arch, num_classes=3)
    x = torch.randn(2, 3, 33, 35, dtype=torch.float64)  # the tiny VGG pools 5 times
    tied = unroll(classifier, composite=composite, low=-2.0, high=2.5)
    untied = unroll(classifier, composite=composite, low=-2.0, high=2.5, decoder_weights="untied")
    assert torch.equal(untied(x).heatmaps, tied(x).heatmaps)
    decoder = dict(untied.decoder.weights.items())
    assert sorted(decoder) == sorted(name.replace(".", "_") for name in _layers(classifier))
    own = {p.data_ptr() for p in decoder.values()}
    assert not own & {p.data_ptr() for p in classifier.parameters()}
    assert count_parameters(untied) == count_parameters(tied) + sum(
        m.weight.numel() for m in _layers(classifier).values()
    )
    with torch.no_grad():  # moving the classifier's weights no longer moves the decoder's
        for layer in _layers(classifier).values():
            layer.weight.mul_(1.5)
    assert all(
        torch.equal(decoder[name.replace(".", "_")], layer.weight / 1.5) for name, layer in _layers(classifier).items()
    )


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("composite", ["zero", "epsilon_gamma_box"])
def test_untied_gradients_split_the_tied_gradient_between_encoder_and_decoder(arch, composite):
    """A tied weight is used by the encoder (forward, gates, denominators) and by the decoder (numerators); untying
    gives each use its own parameter, so the tied gradient is the sum of the two untied ones, and the decoder's
    own gradient is non-zero: both are trained."""
    classifier = random_classifier(arch, num_classes=3)
    x = torch.randn(2, 3, 33, 35, dtype=torch.float64)  # the tiny VGG pools 5 times
    target = torch.randint(0, 3, (2, 33, 35))
    tied = unroll(classifier, composite=composite, low=-2.0, high=2.5)
    untied = unroll(classifier, composite=composite, low=-2.0, high=2.5, decoder_weights="untied")
    layers = _layers(classifier)
    (tied_grads,) = [torch.autograd.grad(_loss(tied(x), target), [m.weight for m in layers.values()])]
    decoder = [untied.decoder.weights[name.replace(".", "_")] for name in layers]
    grads = torch.autograd.grad(_loss(untied(x), target), [m.weight for m in layers.values()] + decoder)
    encoder_grads, decoder_grads = grads[: len(layers)], grads[len(layers) :]
    for name, whole, enc, dec in zip(layers, tied_grads, encoder_grads, decoder_grads):
        assert torch.allclose(enc + dec, whole, rtol=1e-9, atol=1e-12 * whole.abs().max()), name
    assert all(g.abs().max() > 0 for g in decoder_grads)


def test_load_decoder_copies_matching_layers_and_starts_the_class_bottleneck_afresh():
    classifier, backbone = random_classifier("resnet10", num_classes=3), random_classifier("resnet10", 7, seed=1)
    model = unroll(classifier, decoder_weights="untied")
    torch.manual_seed(0)
    model.load_decoder(backbone)
    weights = model.decoder.weights
    assert torch.equal(weights["layer1_0_conv1"], backbone.layer1[0].conv1.weight)
    assert not torch.equal(weights["fc"], classifier.fc.weight)  # 7 classes there: fresh, PyTorch's init
    assert weights["fc"].abs().max() <= 1 / classifier.fc.in_features**0.5
    with pytest.raises(ValueError, match="needs decoder_weights='untied'"):
        unroll(classifier).load_decoder(backbone)


def test_an_untied_model_round_trips_through_its_state_dict():
    classifier = random_classifier("resnet10", num_classes=3)
    model = unroll(classifier, decoder_weights="untied")
    state = {k: v.clone() + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert torch.equal(model.decoder.weights["fc"], state["decoder.weights.fc"])
    assert "decoder.weights.layer4_0_downsample_0" in state
