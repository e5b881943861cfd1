"""UNet, multi-task UNet and FCN: shapes, seg_mask, class branch at init, trainability; every model's stride."""

import pytest
import torch
import torch.nn.functional as F

from unrolled_lrp.models import FCN, MultiTaskUNet, SegmentationModel, UNet, build_classifier, build_model

NUM_CLASSES = 3
MODELS = ["unet", "mt_unet", "fcn"]


def _model(name: str, arch: str = "resnet18") -> SegmentationModel:
    torch.manual_seed(0)
    return build_model(name, build_classifier(arch, NUM_CLASSES), NUM_CLASSES)


@pytest.mark.parametrize("arch", ["resnet18", "vgg11_bn", "mobilenet_v2"])
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("size", [(96, 160), (32, 32)])
def test_output_shapes(name, arch, size):
    model = _model(name, arch).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.seg_logits.shape == (2, NUM_CLASSES, *size)
    if model.uses_image_labels:
        assert out.class_logits.shape == (2, NUM_CLASSES)
    else:
        assert out.class_logits is None


def test_flags_and_classes():
    assert [type(_model(name)) for name in MODELS] == [UNet, MultiTaskUNet, FCN]
    assert [_model(name).uses_image_labels for name in MODELS] == [False, True, False]


@pytest.mark.parametrize("name", MODELS)
def test_input_not_multiple_of_32_is_rejected(name):
    with pytest.raises(ValueError, match="multiples of 32, got 100x64"):
        _model(name)(torch.randn(1, 3, 100, 64))


@pytest.mark.parametrize("name", MODELS)
def test_seg_mask_selects_images(name):
    model = _model(name).eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        full = model(x)
        selected = model(x, seg_mask=torch.tensor([True, False, True]))
        none = model(x, seg_mask=torch.zeros(3, dtype=torch.bool))
    torch.testing.assert_close(selected.seg_logits, full.seg_logits[[0, 2]])
    assert none.seg_logits is None
    if model.uses_image_labels:  # class logits for every image, labelled or not
        torch.testing.assert_close(selected.class_logits, full.class_logits)
        torch.testing.assert_close(none.class_logits, full.class_logits)
    with pytest.raises(ValueError, match="seg_mask must be a boolean tensor of shape \\(3,\\)"):
        model(x, seg_mask=torch.tensor([1, 0, 1]))


@pytest.mark.parametrize("arch", ["resnet18", "vgg11_bn", "mobilenet_v2"])
def test_mt_unet_class_branch_is_the_classifier_at_init(arch):
    classifier = build_classifier(arch, NUM_CLASSES).eval()
    model = MultiTaskUNet(classifier, NUM_CLASSES).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x).class_logits, classifier(x))
    assert model.class_head[-1] is (classifier.fc if arch == "resnet18" else classifier.classifier)


def test_mt_unet_rejects_a_classifier_with_other_classes():
    with pytest.raises(ValueError, match="classifier has 5 outputs but num_classes=3"):
        MultiTaskUNet(build_classifier("resnet18", 5), NUM_CLASSES)


@pytest.mark.parametrize("name", ["unet", "fcn"])
def test_single_task_models_hold_no_class_weights(name):
    classifier = build_classifier("resnet18", NUM_CLASSES)
    model = build_model(name, classifier, NUM_CLASSES)
    assert not any(p is classifier.fc.weight for p in model.parameters())


def _loss(model: SegmentationModel, x, seg_mask, pixel_labels, image_labels):
    out = model(x, seg_mask)
    loss = F.cross_entropy(out.seg_logits, pixel_labels, ignore_index=255)
    if model.uses_image_labels:
        loss = loss + F.binary_cross_entropy_with_logits(out.class_logits, image_labels)
    return loss


@pytest.mark.parametrize("name", MODELS)
def test_a_few_adamw_steps_decrease_the_loss(name):
    model = _model(name).train()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 64, 64, generator=generator)
    seg_mask = torch.tensor([True, True, False])
    blocks = torch.randint(NUM_CLASSES, (2, 4, 4), generator=generator)  # learnable at every decoder's resolution
    pixel_labels = blocks.repeat_interleave(16, dim=1).repeat_interleave(16, dim=2)
    pixel_labels[:, :4] = 255
    image_labels = torch.tensor([[1.0, 1, 0], [1, 0, 1], [0, 1, 1]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = _loss(model, x, seg_mask, pixel_labels, image_labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses


def _vgg_with_three_pools() -> torch.nn.Module:
    """vgg11 without its last two max-pools: a trunk whose coarsest stride is 8."""
    classifier = build_classifier("vgg11", NUM_CLASSES)
    layers = list(classifier.features)
    pools = [i for i, layer in enumerate(layers) if isinstance(layer, torch.nn.MaxPool2d)]
    del layers[pools[-1]], layers[pools[-2]]
    classifier.features = torch.nn.Sequential(*layers)
    return classifier


@pytest.mark.parametrize("name", MODELS)
def test_the_stride_is_the_encoders_not_a_constant(name):
    """A trunk with fewer pools gives a stride-8 model (what evaluation pads to and training crops are checked
    against): sizes that are multiples of 8, not of 32, pass; other sizes are refused naming 8."""
    torch.manual_seed(0)
    options = {"decoder_channels": (32, 16, 8)} if "unet" in name else {}
    model = build_model(name, _vgg_with_three_pools(), NUM_CLASSES, **options).eval()
    assert model.stride == model.encoder.stride == 8
    with torch.no_grad():
        assert model(torch.randn(1, 3, 40, 24)).seg_logits.shape == (1, NUM_CLASSES, 40, 24)
    with pytest.raises(ValueError, match="multiples of 8, got 36x24"):
        model(torch.randn(1, 3, 36, 24))


def test_unrolled_lrp_takes_the_stride_of_its_classifier():
    shallow = build_model("unrolled_lrp", _vgg_with_three_pools(), NUM_CLASSES)
    sequential = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=(1, 2), padding=1),  # (2, 4) with the pool: padded to 4
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, NUM_CLASSES),
    )
    assert shallow.stride == 8 and build_model("unrolled_lrp", sequential, NUM_CLASSES).stride == 4
    assert [_model(name, "mobilenet_v2").stride for name in MODELS] == [32, 32, 32]
