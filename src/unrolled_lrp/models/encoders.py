"""Multi-scale encoders that *are* the classifier's convolutional trunk.

An :class:`Encoder` holds the classifier's own modules (no copies), so every segmentation
model built from a classifier starts from exactly its pre-trained weights, and training the
segmentation model trains the classifier's parameters in place. Consequently build a fresh
classifier for every model that must train independently.

Feature maps returned by ``Encoder.forward`` (one per stage, finest first):

* ResNet family: strides (2, 4, 8, 16, 32) — stem (conv1-bn1-relu), maxpool+layer1,
  layer2, layer3, layer4. There is no stride-1 feature map: the first convolution
  already down-samples.
* VGG family: strides (1, 2, 4, 8, 16, 32) — the conv block before each max-pool, each
  later stage starting with that max-pool; the last stage is the final max-pool alone, so
  the stride-32 map is exactly what VGG's ``avgpool`` receives.

In both cases the last feature map is the classifier's bottleneck: :func:`classifier_head`
applied to it gives the classifier's logits.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import VGG, ResNet


class Encoder(nn.Module):
    """Stages of a classifier trunk, returning every stage's output.

    Attributes:
        stages: the stage modules (built from the classifier's own modules).
        channels: channels of each stage's output.
        strides: down-sampling factor of each stage's output w.r.t. the input.
    """

    def __init__(self, stages: list[nn.Module], channels: list[int], strides: list[int]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(channels)
        self.strides = tuple(strides)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def build_encoder(classifier: nn.Module) -> Encoder:
    """The multi-scale encoder sharing ``classifier``'s modules (ResNet or VGG)."""
    if isinstance(classifier, ResNet):
        return _resnet_encoder(classifier)
    if isinstance(classifier, VGG):
        return _vgg_encoder(classifier)
    raise TypeError(
        f"cannot build an encoder from {type(classifier).__module__}.{type(classifier).__name__}: "
        "only torchvision ResNet (resnet*, resnext*, wide_resnet*) and VGG classifiers are supported"
    )


def classifier_head(classifier: nn.Module) -> nn.Sequential:
    """The classifier's modules after the encoder: bottleneck feature map → class logits.

    ResNet: global average pooling + fc. VGG: its adaptive 7×7 pooling + the 3-layer MLP.
    Shares the classifier's modules, like :func:`build_encoder`.
    """
    if isinstance(classifier, ResNet):
        return nn.Sequential(classifier.avgpool, nn.Flatten(1), classifier.fc)
    if isinstance(classifier, VGG):
        return nn.Sequential(classifier.avgpool, nn.Flatten(1), classifier.classifier)
    raise TypeError(f"expected a torchvision ResNet or VGG classifier, got {type(classifier).__name__}")


def _resnet_encoder(model: ResNet) -> Encoder:
    stages = [
        nn.Sequential(model.conv1, model.bn1, model.relu),
        nn.Sequential(model.maxpool, model.layer1),
        model.layer2,
        model.layer3,
        model.layer4,
    ]
    channels = [model.conv1.out_channels] + [_out_channels(layer) for layer in stages[1:]]
    return Encoder(stages, channels, strides=[2, 4, 8, 16, 32])


def _vgg_encoder(model: VGG) -> Encoder:
    layers = list(model.features)
    pools = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
    bounds = [0, *pools, len(layers)]
    stages = [nn.Sequential(*layers[start:end]) for start, end in zip(bounds[:-1], bounds[1:])]
    channels: list[int] = []
    for stage in stages:  # the final stage is a lone max-pool and keeps the previous width
        channels.append(_out_channels(stage) if _convs(stage) else channels[-1])
    return Encoder(stages, channels, strides=[2**i for i in range(len(stages))])


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _out_channels(stage: nn.Module) -> int:
    """Output width of a stage: that of its last convolution.

    Holds for VGG blocks and ResNet layers, whose last block has no down-sampling shortcut
    (a shortcut conv, registered after the main path, only appears in a layer's first block).
    """
    return _convs(stage)[-1].out_channels
