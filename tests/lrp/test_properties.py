"""Invariants of the unrolled model: conservation, tying, BatchNorm statistics, max-pool ties, chunking."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from references import input_x_gradient, random_classifier
from unrolled_lrp import UnsupportedLayerError, unroll


def close(a, b, tol=1e-10):
    return ((a - b).abs().max() / b.abs().max()).item() < tol


@pytest.mark.parametrize("arch", ["resnet18", "vgg11_bn"])
def test_conservation_without_biases_heatmap_sums_equal_class_scores(arch):
    classifier = random_classifier(arch, num_classes=4)
    for m in classifier.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.zero_()
        if getattr(m, "bias", None) is not None:
            m.bias.data.zero_()
    x = torch.randn(2, 3, 40, 36, dtype=torch.float64)
    out = unroll(classifier)(x)
    assert close(out.heatmaps.sum(dim=(2, 3)), out.logits)


def test_unrolled_model_has_exactly_the_classifiers_parameters_and_state():
    classifier = random_classifier("resnet18")
    model = unroll(classifier)
    assert [id(p) for p in model.parameters()] == [id(p) for p in classifier.parameters()]
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in classifier.parameters())
    assert list(model.state_dict()) == [f"classifier.{k}" for k in classifier.state_dict()]


def test_tying_survives_dtype_change_optimizer_step_and_state_dict_round_trip():
    classifier = random_classifier("resnet18", num_classes=3)
    model = unroll(classifier).float()
    x = torch.randn(2, 3, 33, 35)
    assert close(model(x).heatmaps, input_x_gradient(classifier, x), tol=1e-4)

    model.double()
    x = x.double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    out = model(x)
    (out.heatmaps.square().mean() + out.logits.sum()).backward()
    optimizer.step()
    assert close(model(x).heatmaps, input_x_gradient(classifier, x))

    other = random_classifier("resnet18", num_classes=3, seed=1)
    model.load_state_dict({f"classifier.{k}": v for k, v in other.state_dict().items()})
    assert close(model(x).heatmaps, input_x_gradient(other, x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_tying_survives_moving_to_the_gpu():
    classifier = random_classifier("resnet18", num_classes=3)
    model = unroll(classifier).cuda()
    x = torch.randn(2, 3, 33, 35, dtype=torch.float64, device="cuda")
    assert close(model(x).heatmaps, input_x_gradient(classifier, x), tol=1e-8)


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2@0.25"])
def test_batchnorm_statistics_untouched_in_eval_and_updated_once_like_the_classifier_in_train(arch):
    classifier = random_classifier(arch, num_classes=3)
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    before = copy.deepcopy(classifier.state_dict())
    out = unroll(classifier)(x)
    (out.heatmaps.sum() + out.logits.sum()).backward()
    assert all(torch.equal(before[k], v) for k, v in classifier.state_dict().items())

    plain = copy.deepcopy(classifier).train()
    classifier.train()
    unroll(classifier)(x)
    plain(x)
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in classifier.state_dict().items())


def test_max_pool_windows_sharing_a_winner_keep_all_relevance():
    """A 3x3/2 pool with padding 1 (ResNet's stem): a peak wins four overlapping windows."""
    net = nn.Sequential(
        nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.Flatten(), nn.Linear(9, 1, bias=False)
    ).double()
    net[0].weight.data.fill_(1.0)
    net[4].weight.data.fill_(1.0)
    x = torch.full((1, 1, 5, 5), 0.1, dtype=torch.float64)
    x[0, 0, 1, 1] = 5.0  # the maximum of the four windows centred at (0, 0), (0, 2), (2, 0) and (2, 2)
    out = unroll(net)(x)
    assert out.logits.item() == pytest.approx(4 * 5.0 + 5 * 0.1)
    assert out.heatmaps.sum().item() == pytest.approx(out.logits.item(), rel=1e-12)
    assert out.heatmaps[0, 0, 1, 1].item() == pytest.approx(4 * 5.0)  # summed over the four windows it wins


def test_chunked_masked_and_class_subset_computations_agree():
    classifier = random_classifier("resnet18", num_classes=5)
    x = torch.randn(3, 3, 35, 33, dtype=torch.float64)
    full = unroll(classifier)(x).heatmaps
    chunked = unroll(classifier, class_chunk_size=2)
    assert close(chunked(x).heatmaps, full, tol=1e-13)
    mask = torch.tensor([True, False, True])
    assert close(unroll(classifier)(x, heatmap_mask=mask).heatmaps, full[mask], tol=1e-13)
    assert close(chunked(x, classes=[4, 1, 2], heatmap_mask=mask).heatmaps, full[mask][:, [4, 1, 2]], tol=1e-13)
    empty = unroll(classifier)(x, heatmap_mask=torch.zeros(3, dtype=torch.bool))
    assert empty.heatmaps.shape == (0, 5, 35, 33) and empty.logits.shape == (3, 5)


def test_chunked_training_gives_the_same_gradients():
    classifier = random_classifier("resnet18", num_classes=5)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)

    def grads(model):
        out = model(x, heatmap_mask=torch.tensor([True, False]))
        return torch.autograd.grad(out.heatmaps.square().mean() + out.logits.sum(), list(model.parameters()))

    for a, b in zip(grads(unroll(classifier)), grads(unroll(classifier, class_chunk_size=2))):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("arch", ["resnet18", "vgg11_bn"])
def test_torch_compile_traces_the_whole_decoder_in_one_graph(arch):
    """Inference is one graph without breaks (so inductor can fuse the decoder) and compiles to the same
    heatmaps; ``heatmap_mask`` adds the unavoidable data-dependent-shape break of boolean selection."""
    model = unroll(random_classifier(arch, num_classes=3).float()).eval()
    x = torch.randn(2, 3, 40, 36)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(x)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)(x)
    eager = model(x)
    assert torch.equal(compiled.heatmaps, eager.heatmaps) and torch.equal(compiled.logits, eager.logits)
    torch._dynamo.reset()


def test_ws_ae_decoder_applies_standard_relus_to_its_own_signal():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(5, 3),
    ).double()
    x = torch.randn(2, 3, 8, 6, dtype=torch.float64)
    a1 = net[1](net[0](x))
    p, switches = F.max_pool2d(a1, 2, return_indices=True)
    expected = []
    for k in range(3):
        g = net[7].weight[k].view(1, 5, 1, 1).expand(2, 5, 4, 3) / 12
        g = torch.nn.grad.conv2d_input(p.shape, net[3].weight, F.relu(g), padding=1)
        g = F.max_unpool2d(g, switches, 2, output_size=a1.shape[-2:])
        g = torch.nn.grad.conv2d_input(x.shape, net[0].weight, F.relu(g), padding=1)
        expected.append((g * x).sum(1))
    ws_ae = unroll(net, activations="relu")(x).heatmaps
    assert close(ws_ae, torch.stack(expected, 1), tol=1e-12)
    assert not close(ws_ae, unroll(net)(x).heatmaps, tol=1e-3)


def test_low_precision_runs_and_matches_double():
    classifier = random_classifier("resnet18", num_classes=3)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    reference = unroll(classifier)(x).heatmaps
    half = unroll(copy.deepcopy(classifier).bfloat16())(x.bfloat16()).heatmaps
    assert half.dtype == torch.bfloat16
    assert torch.corrcoef(torch.stack([half.double().flatten(), reference.flatten()]))[0, 1] > 0.95


@pytest.mark.parametrize(
    "replace, path, kind",
    [
        (lambda m: setattr(m.features, "2", nn.GELU()), "features.2", "GELU"),
        (lambda m: setattr(m.classifier, "1", nn.LayerNorm(4096)), "classifier.1", "LayerNorm"),
        (lambda m: setattr(m.features, "3", nn.AvgPool2d(2)), "features.3", "AvgPool2d"),
    ],
)
def test_unsupported_layers_fail_at_unroll_time_naming_path_and_type(replace, path, kind):
    classifier = random_classifier("vgg11")
    replace(classifier)
    with pytest.raises(UnsupportedLayerError, match=rf"'{path}' of type .*{kind}"):
        unroll(classifier)


def test_attention_block_and_overridden_forward_are_rejected():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MultiheadAttention(4, 1), nn.Linear(4, 2))
    with pytest.raises(UnsupportedLayerError, match=r"'1' of type .*MultiheadAttention"):
        unroll(net)

    class Custom(type(random_classifier("resnet18"))):
        def forward(self, x):
            return super().forward(x) * 2

    custom = Custom(__import__("torchvision").models.resnet.BasicBlock, [1, 1, 1, 1])
    with pytest.raises(UnsupportedLayerError, match="overrides ResNet.forward"):
        unroll(custom)


def test_invalid_arguments_give_clear_errors():
    classifier = random_classifier("resnet18", num_classes=3)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with pytest.raises(ValueError, match="composite must be"):
        unroll(classifier, composite="alpha-beta")
    with pytest.raises(ValueError, match="use composite='zero'"):
        unroll(classifier, composite="epsilon", activations="relu")
    with pytest.raises(ValueError, match="heatmap_mask must be a bool tensor of shape"):
        unroll(classifier)(x, heatmap_mask=torch.tensor([1, 0]))
    with pytest.raises(IndexError, match=r"classes must lie in \[0, 3\)"):
        unroll(classifier)(x, classes=[3])
