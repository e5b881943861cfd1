"""FCN ablation baseline: the classifier's encoder mirrored by a free-weight decoder.

The paper's FCN is the weight-sharing auto-encoder (WS-AE) with its tied weights and tied
up-sampling made free: nearest-neighbour up-sampling where the encoder down-samples,
standard ReLUs, a single decoder branch (so it does not contain the classifier's class
weights), no skip connections, trained with the segmentation loss only.

Mirror granularity: one 3×3 conv-BN-ReLU per encoder stage, in reverse order, mapping the
stage's output width back to its input width (channels mirrored), followed by nearest
up-sampling by the stage's down-sampling factor. A stage without a convolution (VGG's final
lone max-pool) mirrors to up-sampling only. We do not mirror every encoder convolution: for
a ResNet that would be a 50-layer decoder without residual connections, which does not train
from scratch on a few labelled images; the per-stage mirror has a comparable parameter
budget (ResNet50: 24.9M decoder vs 23.5M encoder; 48,433,173 in all at 21 classes). The encoder's
first convolution mirrors to the 1×1 segmentation head (instead of mapping back to RGB), applied
before the final up-sampling of ResNets' stride-2 stem — the two commute for nearest up-sampling.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import SegmentationOnlyModel
from .encoders import build_encoder
from .layers import conv_bn_relu
from .registry import register_model


class FCN(SegmentationOnlyModel):
    """Encoder + mirrored free-weight decoder without skips; segmentation loss only."""

    def __init__(self, classifier: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = build_encoder(classifier)
        channels, strides = self.encoder.channels, self.encoder.strides
        layers: list[nn.Module] = []
        for i in reversed(range(1, len(strides))):
            if any(isinstance(m, nn.Conv2d) for m in self.encoder.stages[i].modules()):
                layers.append(conv_bn_relu(channels[i], channels[i - 1]))
            layers.append(nn.Upsample(scale_factor=strides[i] // strides[i - 1], mode="nearest"))
        self.decoder = nn.Sequential(*layers)
        self.seg_head = nn.Sequential(nn.Conv2d(channels[0], num_classes, kernel_size=1))
        if strides[0] > 1:
            self.seg_head.append(nn.Upsample(scale_factor=strides[0], mode="nearest"))

    def segment_images(self, x: Tensor) -> Tensor:
        return self.seg_head(self.decoder(self.encoder(x)[-1]))


@register_model("fcn", display="FCN")
def fcn(classifier: nn.Module, num_classes: int, **kwargs) -> FCN:
    return FCN(classifier, num_classes, **kwargs)
