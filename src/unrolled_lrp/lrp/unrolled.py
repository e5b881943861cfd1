"""The unrolled-LRP model: a classifier whose LRP heatmaps for all classes form a segmentation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from unrolled_lrp.lrp.composites import bind
from unrolled_lrp.lrp.config import LRPConfig
from unrolled_lrp.lrp.plan import build_plan
from unrolled_lrp.lrp.units import AffineUnit, LinearUnit, Record, SequenceUnit


class UnrolledOutput(NamedTuple):
    """Class scores of every image and LRP heatmaps of the requested classes.

    ``heatmaps`` is ``(n, K, H, W)``: ``n`` images (all, or those selected by ``heatmap_mask``, in
    batch order), ``K`` classes (all, or ``classes`` in the given order), summed over input channels.
    """

    logits: Tensor
    heatmaps: Tensor


class UntiedDecoder(nn.Module):
    """The untied decoder's own weights: one per convolution and dense layer of the classifier, named by its path
    (dots as underscores), copied from the classifier when the decoder is made. Units read them at every call."""

    def __init__(self, units: list[AffineUnit]) -> None:
        super().__init__()
        self.weights = nn.ParameterDict({_key(u.path): nn.Parameter(u.module.weight.detach().clone()) for u in units})
        for unit in units:
            unit.decoder = (self.weights, _key(unit.path))

    def load_from(self, units: list[AffineUnit], source: nn.Module) -> None:
        """Copy every weight from the layer of ``source`` at the same path; a layer whose shape differs there
        (the class bottleneck of a classifier with other classes) is initialised afresh, as ``nn.Linear`` and
        ``nn.Conv2d`` initialise their weights."""
        layers = dict(source.named_modules())
        with torch.no_grad():
            for unit in units:
                weight, own = getattr(layers.get(unit.path), "weight", None), self.weights[_key(unit.path)]
                if isinstance(weight, Tensor) and weight.shape == own.shape:
                    own.copy_(weight)
                else:
                    nn.init.kaiming_uniform_(own, a=math.sqrt(5))


def _key(path: str) -> str:
    return path.replace(".", "_")


class UnrolledLRP(nn.Module):
    """A classifier together with its unrolled LRP decoder (paper, Fig. 1).

    With tied decoder weights (the default) the only registered submodule is ``classifier``: the decoder holds
    references to the classifier's own modules and reads their parameters at every call, so weights, BatchNorm
    affine parameters and output-layer class weights are tied by construction, across ``.to()``, optimizer steps
    and ``load_state_dict``, and the state dict is the classifier's, under ``classifier.``. With
    ``decoder_weights="untied"`` the decoder's convolution and dense weights are its own (``decoder.weights.*``),
    copied from the classifier here; gates, pooling switches, BatchNorm slopes and the rules' denominators still
    come from the classifier.

    Args:
        classifier: a model of a supported family (torchvision ResNet, VGG, MobileNetV2, or an
            ``nn.Sequential`` of supported layers; see :mod:`unrolled_lrp.lrp.adapters`).
        config: the LRP options (composite and rules, decoder activations and weights, ReLU6 mode, class chunks).
    """

    def __init__(self, classifier: nn.Module, config: LRPConfig = LRPConfig()) -> None:
        super().__init__()
        self.classifier = classifier
        self.config = config
        self._plan: SequenceUnit = build_plan(classifier)
        self._layers = bind(self._plan, config).affine_units
        self.num_classes: int = cast(LinearUnit, self._plan.units[-1]).linear.out_features
        self.decoder = UntiedDecoder(self._layers) if config.decoder_weights == "untied" else None

    def load_decoder(self, source: nn.Module) -> None:
        """Initialise the untied decoder from ``source``, a classifier of the same architecture (e.g. the ImageNet
        backbone before pre-training); layers of another shape there start afresh (see ``UntiedDecoder.load_from``)."""
        if self.decoder is None:
            raise ValueError("the decoder is tied to the classifier; load_decoder needs decoder_weights='untied'")
        self.decoder.load_from(self._layers, source)

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
        logits, records = self._plan.encode(x)
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
        return self._plan.input_relevance(selector.expand(x.shape[0], -1, -1), records, x).sum(2)

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
        decoder = f"decoder ({c.decoder_weights} weights, composite={c.composite}, relu6={c.relu6_mode})"
        header = f"{'encoder (classifier)':<70} | {decoder}"
        return "\n".join(
            [
                header,
                "-" * len(header),
                *self._plan.describe(),
                f"{'input image':<70} | relevance at the input, summed over channels",
            ]
        )

    def extra_repr(self) -> str:
        return repr(self.config)


def unroll(classifier: nn.Module, config: LRPConfig = LRPConfig(), **changes: Any) -> UnrolledLRP:
    """Unroll LRP on ``classifier``: see :class:`UnrolledLRP`. ``changes`` override fields of ``config``,
    e.g. ``unroll(classifier, composite="epsilon_gamma_box", low=-2.2, high=2.7)``."""
    return UnrolledLRP(classifier, replace(config, **changes))
