"""``seg_mask=k`` (the first k images, the trainer's static form for torch.compile) equals the boolean mask."""

import pytest
import torch

from unrolled_lrp.models import build_classifier, build_model

NUM_CLASSES = 3


@pytest.mark.parametrize("name", ["unrolled_lrp", "ws_ae", "unet", "mt_unet", "fcn"])
def test_a_count_selects_the_same_images_as_the_boolean_mask(name):
    torch.manual_seed(0)
    model = build_model(name, build_classifier("resnet18", NUM_CLASSES), NUM_CLASSES).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        counted, masked = model(x, seg_mask=2), model(x, seg_mask=torch.tensor([True, True, False]))
        none = model(x, seg_mask=0)
    assert counted.seg_logits.shape[0] == 2 and torch.equal(counted.seg_logits, masked.seg_logits)
    assert none.seg_logits is None
    if model.uses_image_labels:
        assert torch.equal(counted.class_logits, masked.class_logits)


def test_a_count_beyond_the_batch_is_refused():
    torch.manual_seed(0)
    model = build_model("unrolled_lrp", build_classifier("resnet18", NUM_CLASSES), NUM_CLASSES)
    with pytest.raises(ValueError, match="seg_mask=4 must count the first images of the batch: 0 to 3"):
        model(torch.randn(3, 3, 32, 32), seg_mask=4)
