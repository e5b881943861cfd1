"""U-Net baselines on the classifier's own encoder: :class:`UNet` and :class:`MultiTaskUNet`.

The decoder follows segmentation_models_pytorch's U-Net (nearest ×2 up-sampling,
concatenated encoder skip, two 3×3 conv-BN-ReLU per block, decoder widths
(256, 128, 64, 32, 16)) but is built here rather than imported: smp constructs its own
encoder copies (and pulls in timm), whereas the paper's comparison needs every model to run
on the very same classifier modules (see :mod:`unrolled_lrp.models.encoders`). Every encoder
feature map finer than the bottleneck is used as a skip (for VGG this includes the stride-1
block; ResNets have none at stride 1, so the last block has no skip), and the segmentation
head is a 1×1 convolution.

Parameters at 21 classes (measured with :func:`unrolled_lrp.models.count_parameters`, pinned
by tests/models/test_parameter_counts.py): ResNet50 UNet 32,521,317 (paper: 38.84M for its
UNet, whose decoder details it does not give), ResNet50 multi-task UNet 32,564,346 (+ the
classifier's fc), ResNet18 UNet 14,328,421 (paper: 18.81M), VGG16-BN UNet 19,045,477, MobileNetV2 UNet
6,629,157 (skips at strides 2, 4, 8 and 16 from its five stages).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import SegmentationOnlyModel, SegmentationOutput, check_input_size, check_seg_mask, select_images
from .classifiers import final_linear
from .encoders import build_encoder, classifier_head
from .layers import conv_bn_relu
from .registry import register_model

DECODER_CHANNELS = (256, 128, 64, 32, 16)


class DecoderBlock(nn.Module):
    """Up-sample ×2 (nearest), concatenate the encoder skip if any, two conv-BN-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            conv_bn_relu(in_channels + skip_channels, out_channels),
            conv_bn_relu(out_channels, out_channels),
        )

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.convs(x)


class UNetDecoder(nn.Module):
    """Decoder from the bottleneck (last encoder feature) back to stride 1, one block per ×2.

    Block ``k`` up-samples to stride ``bottleneck_stride / 2**(k+1)`` and concatenates the
    encoder feature map of that stride when the encoder has one.
    """

    def __init__(
        self, encoder_channels: tuple[int, ...], encoder_strides: tuple[int, ...], decoder_channels: tuple[int, ...]
    ) -> None:
        super().__init__()
        stride, in_channels = encoder_strides[-1], encoder_channels[-1]
        if 2 ** len(decoder_channels) != stride:
            raise ValueError(
                f"need one decoder block per ×2 up-sampling: {stride.bit_length() - 1} decoder_channels "
                f"for a stride-{stride} bottleneck, got {len(decoder_channels)}"
            )
        blocks = []
        self.skip_indices: list[int | None] = []
        for out_channels in decoder_channels:
            stride //= 2
            skip = encoder_strides.index(stride) if stride in encoder_strides else None
            blocks.append(DecoderBlock(in_channels, 0 if skip is None else encoder_channels[skip], out_channels))
            self.skip_indices.append(skip)
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)

    def forward(self, features: list[Tensor]) -> Tensor:
        x = features[-1]
        for block, skip in zip(self.blocks, self.skip_indices):
            x = block(x, None if skip is None else features[skip])
        return x


class UNet(SegmentationOnlyModel):
    """U-Net: the classifier's encoder + a free-weight decoder with concatenated skips.

    Trained on pixel-labelled images with the segmentation loss only. ``seg_mask`` selects
    images before the encoder runs, so unselected images cost nothing.
    """

    def __init__(
        self, classifier: nn.Module, num_classes: int, decoder_channels: tuple[int, ...] = DECODER_CHANNELS
    ) -> None:
        super().__init__()
        self.encoder = build_encoder(classifier)
        self.decoder = UNetDecoder(self.encoder.channels, self.encoder.strides, tuple(decoder_channels))
        self.seg_head = nn.Conv2d(decoder_channels[-1], num_classes, kernel_size=1)

    def segment(self, features: list[Tensor]) -> Tensor:
        """Per-pixel logits at input resolution from the encoder's feature maps."""
        return self.seg_head(self.decoder(features))

    def segment_images(self, x: Tensor) -> Tensor:
        return self.segment(self.encoder(x))


class MultiTaskUNet(UNet):
    """U-Net plus a classification branch on the bottleneck, trained on mixed batches.

    The branch is the classifier's own head (ResNet: global average pooling + fc; VGG: its
    pooling + MLP), shared rather than copied, so at initialisation ``class_logits`` equals
    ``classifier(x)`` exactly — the paper initialises the branch from the classifier's output
    layer. The encoder runs on all images (class logits for every image); the decoder only on
    the images selected by ``seg_mask``.
    """

    uses_image_labels = True

    def __init__(
        self, classifier: nn.Module, num_classes: int, decoder_channels: tuple[int, ...] = DECODER_CHANNELS
    ) -> None:
        super().__init__(classifier, num_classes, decoder_channels)
        outputs = final_linear(classifier).out_features
        if outputs != num_classes:
            raise ValueError(
                f"the classifier has {outputs} outputs but num_classes={num_classes}; "
                "build the classifier with the segmentation classes (background included)"
            )
        self.class_head = classifier_head(classifier)

    def forward(self, x: Tensor, seg_mask: Tensor | int | None = None) -> SegmentationOutput:
        check_input_size(x, self.stride)
        check_seg_mask(seg_mask, len(x))
        features = self.encoder(x)
        class_logits = self.class_head(features[-1])
        features = [select_images(feature, seg_mask) for feature in features]
        seg_logits = self.segment(features) if len(features[-1]) else None
        return SegmentationOutput(seg_logits=seg_logits, class_logits=class_logits)


@register_model("unet", display="UNet")
def unet(classifier: nn.Module, num_classes: int, **kwargs) -> UNet:
    return UNet(classifier, num_classes, **kwargs)


@register_model("mt_unet", display="multi-task UNet")
def mt_unet(classifier: nn.Module, num_classes: int, **kwargs) -> MultiTaskUNet:
    return MultiTaskUNet(classifier, num_classes, **kwargs)
