"""A convolution or dense layer in one forward pass, its BatchNorm folded in: what the rules compute with.

The folding is the forward pass's own affine map: BatchNorm's slope and shift use the batch statistics exactly when
the forward used them (training mode), detached, as the constants of that map. Every weight is read from the
module when asked for, never stored, so the decoder stays tied to the classifier across ``.to()``, optimiser steps
and ``load_state_dict``; an untied decoder (``LRPConfig.decoder_weights``) supplies its own ``decoder_weight``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def batchnorm_affine(bn: nn.BatchNorm2d, pre_bn: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel ``(scale, shift)`` of the affine map ``bn(c) = scale * c + shift`` of this forward pass.

    Batch statistics are used exactly when the forward used them (training mode or no running statistics); they
    are detached, i.e. treated as the constants of that map. Running statistics are only read, never updated.
    """
    dtype = torch.promote_types(pre_bn.dtype, torch.float32)  # half precision statistics are too coarse
    if bn.training or bn.running_var is None or bn.running_mean is None:
        dims = [0] + list(range(2, pre_bn.dim()))
        var, mean = torch.var_mean(pre_bn.detach().to(dtype), dim=dims, unbiased=False)
    else:
        var, mean = bn.running_var.to(dtype), bn.running_mean.to(dtype)
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = bn.weight * scale
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale.to(pre_bn.dtype), shift.to(pre_bn.dtype)


class AffineMap:
    """``z = weight * x + bias`` of a Conv2d or Linear (``module``) with a folded BatchNorm (``scale``, ``shift``).

    ``in_size`` is the input's shape without the batch axis, which fixes the transposed convolution's output size.
    """

    def __init__(
        self,
        module: nn.Conv2d | nn.Linear,
        scale: Tensor | None,
        shift: Tensor | None,
        in_size: tuple[int, ...],
        decoder_weight: Tensor | None = None,
    ) -> None:
        self.module, self.scale, self.shift, self.in_size = module, scale, shift, in_size
        self._decoder_weight = decoder_weight

    def _fold(self, weight: Tensor) -> Tensor:
        return weight if self.scale is None else weight * self.scale.view(-1, *([1] * (weight.dim() - 1)))

    @property
    def weight(self) -> Tensor:
        """The classifier's weight, BatchNorm's slope folded in."""
        return self._fold(self.module.weight)

    @property
    def decoder_weight(self) -> Tensor:
        """The weight the decoder transposes: the classifier's (tied) or the decoder's own (untied), folded."""
        return self._fold(self.module.weight if self._decoder_weight is None else self._decoder_weight)

    @property
    def bias(self) -> Tensor | None:
        """The classifier's bias, BatchNorm folded in (None: the map has none)."""
        bias = self.module.bias
        if self.scale is None or self.shift is None:
            return bias
        return self.shift if bias is None else bias * self.scale + self.shift

    def forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The map with another weight and bias: a rule's modified forward pass."""
        module = self.module
        if isinstance(module, nn.Linear):
            return F.linear(x, weight, bias)
        return F.conv2d(x, weight, bias, module.stride, module.padding, module.dilation, module.groups)

    def transpose(self, q: Tensor, weight: Tensor) -> Tensor:
        """``weight^T q`` for a signal ``q`` ``(B, K, ...)`` with a class axis: the tied transposed step."""
        return self.transpose_messages(q.unsqueeze(2), [[weight]])[0]

    def transpose_messages(self, q: Tensor, weights: Sequence[list[Tensor]]) -> list[Tensor]:
        """For each branch ``b``, ``sum_m weights[b][m]^T q[:, :, m]``, all in one transposed map.

        ``q`` ``(B, K, M, C_out, ...)`` holds M messages; the messages are stacked along the channels (group by
        group for grouped convolutions) and the branches along the outputs, so the signal is read once.
        """
        module = self.module
        batch = q.shape[:2]
        if isinstance(module, nn.Linear):
            stacked = torch.cat([torch.cat(branch, 0) for branch in weights], 1)  # (M * out, branches * in)
            return list((q.flatten(2, 3) @ stacked).chunk(len(weights), dim=-1))
        groups = module.groups
        flat = q.flatten(0, 1).unflatten(2, (groups, -1)).transpose(1, 2).flatten(1, 3)  # (N, G * M * C_out/G, ...)
        flat = flat.contiguous(memory_format=torch.channels_last)  # 1.4x faster all-class decoding on CPU
        stacked = torch.cat([_group_major(torch.stack(branch), groups) for branch in weights], 1)
        padding = cast(tuple[int, ...], module.padding)  # numbers: checked when the plan was built
        output_padding = tuple(
            i - ((o - 1) * s - 2 * p + d * (k - 1) + 1)
            for i, o, s, p, d, k in zip(
                self.in_size[-2:], q.shape[-2:], module.stride, padding, module.dilation, module.kernel_size
            )
        )
        out = F.conv_transpose2d(flat, stacked, None, module.stride, padding, output_padding, groups, module.dilation)
        per_branch = out.unflatten(1, (groups, len(weights), -1))  # the outputs of group g: its branches in turn
        return [per_branch[:, :, b].flatten(1, 2).unflatten(0, batch) for b in range(len(weights))]


def _group_major(weights: Tensor, groups: int) -> Tensor:
    """Stacked transposed-convolution weights ``(M, C_out, C_in/G, k, k)`` reordered to ``(G * M * C_out/G, ...)``:
    the input channels of ``conv_transpose2d`` grouped by convolution group, then by message."""
    return weights.unflatten(1, (groups, -1)).transpose(0, 1).flatten(0, 2)
