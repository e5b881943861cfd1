"""The unrolled-LRP model: a classifier whose LRP heatmaps for all classes form a segmentation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from unrolled_lrp.lrp.config import LRPConfig
from unrolled_lrp.lrp.gating import Gating, make_gating
from unrolled_lrp.lrp.plan import build_plan
from unrolled_lrp.lrp.units import LinearUnit, Record, SequenceUnit


class UnrolledOutput(NamedTuple):
    """Class scores of every image and LRP heatmaps of the requested classes.

    ``heatmaps`` is ``(n, K, H, W)``: ``n`` images (all, or those selected by ``heatmap_mask``, in
    batch order), ``K`` classes (all, or ``classes`` in the given order), summed over input channels.
    """

    logits: Tensor
    heatmaps: Tensor


class UnrolledLRP(nn.Module):
    """A classifier together with its unrolled LRP decoder (paper, Fig. 1).

    The only registered submodule is ``classifier``: the decoder holds references to the
    classifier's own modules and reads their parameters at every call, so weights, BatchNorm
    affine parameters and output-layer class weights are tied by construction, across ``.to()``,
    optimizer steps and ``load_state_dict``. The state dict is the classifier's, under ``classifier.``.

    Args:
        classifier: a model of a supported family (torchvision ResNet, VGG, MobileNetV2, or an
            ``nn.Sequential`` of supported layers; see :mod:`unrolled_lrp.lrp.adapters`).
        config: the LRP options (rule, epsilon, decoder activations, ReLU6 mode, class chunk size).
    """

    def __init__(self, classifier: nn.Module, config: LRPConfig = LRPConfig()) -> None:
        super().__init__()
        self.classifier = classifier
        self.config = config
        self._gating: Gating = make_gating(config)
        self._plan: SequenceUnit = build_plan(classifier)
        self.num_classes: int = cast(LinearUnit, self._plan.units[-1]).linear.out_features

    def forward(
        self,
        x: Tensor,
        classes: Sequence[int] | Tensor | None = None,
        heatmap_mask: Tensor | int | None = None,
    ) -> UnrolledOutput:
        """Class scores for all images; heatmaps for ``classes`` on the images in ``heatmap_mask``.

        Args:
            x: input images ``(B, C_in, H, W)``, any size the classifier accepts.
            classes: class indices to explain (default: all classes).
            heatmap_mask: bool ``(B,)``; heatmaps only for these images (default: all images). An int ``k``:
                the first ``k`` images, a fixed count that ``torch.compile`` traces without a graph break.
        """
        logits, records = self._plan.encode(x, self._gating)
        class_index = self._class_index(classes, x.device)
        if heatmap_mask is not None:
            image_index = self._image_index(heatmap_mask, x)
            x = x[image_index]
            records = self._plan.select(records, image_index)
        if x.shape[0] == 0 or class_index.numel() == 0:
            return UnrolledOutput(logits, x.new_zeros(x.shape[0], class_index.numel(), *x.shape[-2:]))
        chunks = class_index.split(self.config.class_chunk_size or class_index.numel())
        if len(chunks) > 1 and torch.is_grad_enabled():
            heatmaps = [checkpoint(self._heatmaps, x, records, c, use_reentrant=False) for c in chunks]
        else:
            heatmaps = [self._heatmaps(x, records, c) for c in chunks]
        return UnrolledOutput(logits, torch.cat(heatmaps, dim=1))

    def _heatmaps(self, x: Tensor, records: list[Record], class_index: Tensor) -> Tensor:
        """Decode the one-hot class selectors down to the input and multiply with it (paper, 2.2.5)."""
        selector = torch.eye(self.num_classes, dtype=x.dtype, device=x.device)[class_index]
        g = self._plan.decode(selector.expand(x.shape[0], -1, -1), records, self._gating)
        return torch.einsum("bkchw,bchw->bkhw", g, x)

    def _class_index(self, classes: Sequence[int] | Tensor | None, device: torch.device) -> Tensor:
        if classes is None:
            return torch.arange(self.num_classes, device=device)
        index = torch.as_tensor(classes, dtype=torch.long, device=device).reshape(-1)
        if index.numel() and (index.min() < 0 or index.max() >= self.num_classes):
            raise IndexError(f"classes must lie in [0, {self.num_classes}), got {index.tolist()}")
        return index

    @staticmethod
    def _image_index(heatmap_mask: Tensor | int, x: Tensor) -> Tensor:
        if isinstance(heatmap_mask, int):
            if not 0 <= heatmap_mask <= x.shape[0]:
                raise ValueError(f"heatmap_mask={heatmap_mask} must lie in [0, {x.shape[0]}] (the batch size)")
            return torch.arange(heatmap_mask, device=x.device)
        if heatmap_mask.dtype != torch.bool or heatmap_mask.shape != x.shape[:1]:
            raise ValueError(
                f"heatmap_mask must be a bool tensor of shape ({x.shape[0]},), "
                f"got {heatmap_mask.dtype} {tuple(heatmap_mask.shape)}"
            )
        return heatmap_mask.nonzero().squeeze(1)

    def describe(self) -> str:
        """The unrolled architecture: each encoder step beside its tied decoder step."""
        c = self.config
        header = f"{'encoder (classifier)':<70} | decoder (rule={c.rule}, activations={c.activations}, relu6={c.relu6})"
        return "\n".join(
            [
                header,
                "-" * len(header),
                *self._plan.describe(),
                f"{'input image':<70} | x (input) * signal, summed over channels",
            ]
        )

    def extra_repr(self) -> str:
        return repr(self.config)


def unroll(classifier: nn.Module, config: LRPConfig = LRPConfig(), **changes: Any) -> UnrolledLRP:
    """Unroll LRP on ``classifier``: see :class:`UnrolledLRP`. ``changes`` override fields of ``config``,
    e.g. ``unroll(classifier, rule="epsilon", epsilon=0.01)``."""
    return UnrolledLRP(classifier, replace(config, **changes))
