"""Multi-scale encoders that *are* the classifier's convolutional trunk.

An :class:`Encoder` holds the classifier's own modules (no copies), so every segmentation
model built from a classifier starts from exactly its pre-trained weights, and training the
segmentation model trains the classifier's parameters in place. Consequently build a fresh
classifier for every model that must train independently.

The stages come from the family's adapter (:mod:`unrolled_lrp.lrp.families`), the one place that knows
an architecture. Feature maps returned by ``Encoder.forward`` (one per stage, finest first):

* ResNet family: strides (2, 4, 8, 16, 32) — stem (conv1-bn1-relu), maxpool+layer1,
  layer2, layer3, layer4. There is no stride-1 feature map: the first convolution
  already down-samples.
* VGG family: strides (1, 2, 4, 8, 16, 32) — the conv block before each max-pool, each
  later stage starting with that max-pool; the last stage is the final max-pool alone, so
  the stride-32 map is exactly what VGG's ``avgpool`` receives.
* MobileNetV2: strides (2, 4, 8, 16, 32) — ``features`` cut before each down-sampling block; the
  last stage ends with the final 1x1 convolution (1280 channels at width 1).

In every case the last feature map is the classifier's bottleneck: :func:`classifier_head`
applied to it gives the classifier's logits.
"""

from __future__ import annotations

from torch import Tensor, nn

from unrolled_lrp.lrp import adapter_for


class Encoder(nn.Module):
    """Stages of a classifier trunk, returning every stage's output.

    Attributes:
        stages: the stage modules (built from the classifier's own modules).
        channels: channels of each stage's output.
        strides: down-sampling factor of each stage's output w.r.t. the input.
        stride: the coarsest of them (the bottleneck's), which input sizes must be multiples of for decoders
            that up-sample by exact factors.
    """

    def __init__(self, stages: list[nn.Module], channels: list[int], strides: list[int]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(channels)
        self.strides = tuple(strides)

    @property
    def stride(self) -> int:
        return self.strides[-1]

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def build_encoder(classifier: nn.Module) -> Encoder:
    """The multi-scale encoder sharing ``classifier``'s modules (a family with known stages)."""
    stages = adapter_for(classifier).stages(classifier)
    return Encoder([s.module for s in stages], [s.channels for s in stages], [s.stride for s in stages])


def classifier_head(classifier: nn.Module) -> nn.Sequential:
    """The classifier's modules after the encoder: bottleneck feature map → class logits.

    ResNet: global average pooling + fc. VGG: its adaptive 7×7 pooling + the 3-layer MLP. MobileNetV2: global
    average pooling + Dropout + Linear. Shares the classifier's modules, like :func:`build_encoder`.
    """
    return adapter_for(classifier).head(classifier)
