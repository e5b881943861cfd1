"""Unrolled LRP and WS-AE behind the common segmentation interface."""

import torch
from references import input_x_gradient, random_classifier

from unrolled_lrp.models import build_model


def test_registered_unrolled_models_give_heatmaps_as_segmentation_logits():
    classifier = random_classifier("resnet18", num_classes=3)
    x = torch.randn(3, 3, 40, 40, dtype=torch.float64)
    mask = torch.tensor([False, True, True])
    out = build_model("unrolled_lrp", classifier, 3)(x, seg_mask=mask)
    assert torch.equal(out.class_logits, classifier(x))
    assert torch.allclose(out.seg_logits, input_x_gradient(classifier, x)[mask], rtol=1e-10, atol=1e-14)
    ws_ae = build_model("ws_ae", classifier, 3)
    assert ws_ae.uses_image_labels and ws_ae.unrolled.activations == "relu"
    assert ws_ae(x, seg_mask=torch.zeros(3, dtype=torch.bool)).seg_logits is None
