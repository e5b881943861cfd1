"""Encoder-decoder units of an unrolled classifier (paper, Fig. 1).

Each unit wraps modules of the classifier itself, never copies: ``encode`` runs the classifier's
forward step and records what the decoder needs (gates, max-pool switches, BatchNorm scales);
``decode`` is the tied transposed step. Decoder signals carry a class axis: ``(B, K, ...)`` for K
classes, while records have one entry per image and broadcast over K.

A decoder signal ``g`` at a unit's output ``a`` stands for the relevance ``R = a * g``; ``decode``
returns the signal at the unit's input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unrolled_lrp.lrp.gating import Gating, activate

Record = Any


class Unit(ABC):
    """One step of the classifier's forward pass together with its tied decoder step."""

    path: str

    @abstractmethod
    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, Record]:
        """Run the classifier's step on ``a``; return its output and the decoder's record."""

    @abstractmethod
    def decode(self, g: Tensor, record: Record, gating: Gating) -> Tensor:
        """Tied transposed step: the signal at the unit's output becomes the signal at its input."""

    @abstractmethod
    def select(self, record: Record, index: Tensor) -> Record:
        """The record restricted to the images ``index`` (heatmaps for a subset of a batch)."""

    @abstractmethod
    def describe(self) -> list[str]:
        """Lines showing encoder step and tied decoder step, for printing the architecture."""


def _per_image(t: Tensor | None, index: Tensor) -> Tensor | None:
    return None if t is None else t[index]


def _class_axis(t: Tensor | None) -> Tensor | None:
    """Insert the class axis after the batch axis so a per-image record broadcasts over classes."""
    return None if t is None else t.unsqueeze(1)


def _activation_name(activation: str | None) -> str:
    return {None: "", "relu": " + ReLU", "relu6": " + ReLU6"}[activation]


def _tied_activation(activation: str | None) -> str:
    return "" if activation is None else "tied activation + "


def batchnorm_scale(bn: nn.BatchNorm2d | nn.BatchNorm1d, pre_bn: Tensor) -> Tensor:
    """Per-channel slope of the affine map BatchNorm applied in this forward pass.

    Batch statistics are used exactly when the forward used them (training mode or no running
    statistics); they are detached, i.e. treated as the constants of that affine map. Running
    statistics are only read, never updated here.
    """
    dtype = torch.promote_types(pre_bn.dtype, torch.float32)  # half precision statistics are too coarse
    if bn.training or bn.running_var is None:
        dims = [0] + list(range(2, pre_bn.dim()))
        var = pre_bn.detach().to(dtype).var(dim=dims, unbiased=False)
    else:
        var = bn.running_var.to(dtype)
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = bn.weight * scale
    return scale.to(pre_bn.dtype)


class AffineRecord(NamedTuple):
    gate: Tensor | None
    scale: Tensor | None
    in_size: tuple[int, ...]


class ConvUnit(Unit):
    """``Conv2d -> [BatchNorm2d] -> [ReLU]``; decoded by the transposed convolution with the same weight."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d | None, activation: str | None, path: str) -> None:
        self.conv, self.bn, self.activation, self.path = conv, bn, activation, path

    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, AffineRecord]:
        c = self.conv(a)
        z = self.bn(c) if self.bn is not None else c
        scale = batchnorm_scale(self.bn, c) if self.bn is not None else None
        return activate(z, self.activation), AffineRecord(gating.gate(z, self.activation), scale, tuple(a.shape[-2:]))

    def decode(self, g: Tensor, record: AffineRecord, gating: Gating) -> Tensor:
        q = gating.apply(g, _class_axis(record.gate), self.activation)
        conv = self.conv
        weight = conv.weight
        if record.scale is not None:  # the BatchNorm slope, folded into the (small) weight, not the signal
            weight = weight * record.scale.view(-1, 1, 1, 1)
        out_size = q.shape[-2:]
        padding = cast(tuple[int, ...], conv.padding)  # numbers: checked when the plan was built
        output_padding = tuple(
            i - ((o - 1) * s - 2 * p + d * (k - 1) + 1)
            for i, o, s, p, d, k in zip(record.in_size, out_size, conv.stride, padding, conv.dilation, conv.kernel_size)
        )
        flat = F.conv_transpose2d(
            q.flatten(0, 1), weight, None, conv.stride, padding, output_padding, conv.groups, conv.dilation
        )
        return flat.unflatten(0, q.shape[:2])

    def select(self, record: AffineRecord, index: Tensor) -> AffineRecord:
        return record._replace(gate=_per_image(record.gate, index))

    def describe(self) -> list[str]:
        c = self.conv
        enc = f"{self.path}: Conv2d {c.in_channels}->{c.out_channels} k{c.kernel_size} s{c.stride}"
        enc += " + BatchNorm" if self.bn is not None else ""
        enc += _activation_name(self.activation)
        dec = f"tied ConvTranspose2d {c.out_channels}->{c.in_channels}" + (
            f" groups={c.groups}" if c.groups > 1 else ""
        )
        return [f"{enc:<70} | {_tied_activation(self.activation)}{dec}"]


class LinearUnit(Unit):
    """``Linear -> [ReLU]``; decoded by multiplication with the same weight matrix.

    For the output layer, decoding the one-hot class selector gives the class-specific
    bottleneck of the paper: the class's row of the output weights.
    """

    def __init__(self, linear: nn.Linear, activation: str | None, path: str) -> None:
        self.linear, self.activation, self.path = linear, activation, path

    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, AffineRecord]:
        z = self.linear(a)
        return activate(z, self.activation), AffineRecord(gating.gate(z, self.activation), None, tuple(a.shape[1:]))

    def decode(self, g: Tensor, record: AffineRecord, gating: Gating) -> Tensor:
        q = gating.apply(g, _class_axis(record.gate), self.activation)
        return q @ self.linear.weight

    def select(self, record: AffineRecord, index: Tensor) -> AffineRecord:
        return record._replace(gate=_per_image(record.gate, index))

    def describe(self) -> list[str]:
        lin = self.linear
        enc = f"{self.path}: Linear {lin.in_features}->{lin.out_features}" + _activation_name(self.activation)
        dec = f"{_tied_activation(self.activation)}tied Linear^T {lin.out_features}->{lin.in_features}"
        return [f"{enc:<70} | {dec}"]


class PoolRecord(NamedTuple):
    indices: Tensor
    in_size: tuple[int, ...]


class MaxPoolUnit(Unit):
    """``MaxPool2d``; decoded by tied up-sampling through the switches (argmax positions).

    Where windows overlap and share a winner, the winner receives the **sum** of their signals:
    this is the transpose of max pooling (``max_unpool2d`` would overwrite and lose relevance).
    """

    def __init__(self, pool: nn.MaxPool2d, path: str) -> None:
        self.pool, self.path = pool, path

    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, PoolRecord]:
        p = self.pool
        out, indices = F.max_pool2d(
            a, p.kernel_size, p.stride, p.padding, p.dilation, ceil_mode=p.ceil_mode, return_indices=True
        )
        return out, PoolRecord(indices, tuple(a.shape[-2:]))

    def decode(self, g: Tensor, record: PoolRecord, gating: Gating) -> Tensor:
        b, k, c = g.shape[:3]
        h, w = record.in_size
        index = record.indices.flatten(2).unsqueeze(1).expand(b, k, c, -1)
        out = g.new_zeros(b, k, c, h * w).scatter_add(3, index, g.reshape(b, k, c, -1))
        return out.unflatten(3, (h, w))

    def select(self, record: PoolRecord, index: Tensor) -> PoolRecord:
        return record._replace(indices=record.indices[index])

    def describe(self) -> list[str]:
        p = self.pool
        return [f"{f'{self.path}: MaxPool2d k{p.kernel_size} s{p.stride}':<70} | tied up-sampling (switches, summed)"]


def adaptive_pool_matrix(in_size: int, out_size: int, like: Tensor) -> Tensor:
    """``(out_size, in_size)`` matrix of 1-D adaptive average pooling, PyTorch's window rule."""
    matrix = like.new_zeros(out_size, in_size)
    for i in range(out_size):
        start, end = (i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class AdaptiveAvgPoolUnit(Unit):
    """``AdaptiveAvgPool2d`` (global average pooling for ResNets): a linear map, decoded by its transpose."""

    def __init__(self, pool: nn.AdaptiveAvgPool2d, path: str) -> None:
        self.pool, self.path = pool, path

    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, AffineRecord]:
        out = self.pool(a)
        return out, AffineRecord(gating.gate(out, None), None, tuple(a.shape[-2:]))

    def decode(self, g: Tensor, record: AffineRecord, gating: Gating) -> Tensor:
        q = gating.apply(g, _class_axis(record.gate), None)
        (h, w), (oh, ow) = record.in_size, q.shape[-2:]
        return torch.einsum("bkcij,ih,jw->bkchw", q, adaptive_pool_matrix(h, oh, q), adaptive_pool_matrix(w, ow, q))

    def select(self, record: AffineRecord, index: Tensor) -> AffineRecord:
        return record._replace(gate=_per_image(record.gate, index))

    def describe(self) -> list[str]:
        return [f"{f'{self.path}: AdaptiveAvgPool2d {self.pool.output_size}':<70} | tied up-sampling (spread)"]


class DropoutUnit(Unit):
    """``Dropout``: in training an element-wise linear map whose mask the decoder reuses."""

    def __init__(self, dropout: nn.Dropout, path: str) -> None:
        self.dropout, self.path = dropout, path

    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, AffineRecord | None]:
        if not self.dropout.training or self.dropout.p == 0:
            return a, None
        mask = F.dropout(torch.ones_like(a), self.dropout.p, training=True)
        out = a * mask
        return out, AffineRecord(gating.gate(out, None), mask, ())

    def decode(self, g: Tensor, record: AffineRecord | None, gating: Gating) -> Tensor:
        if record is None:
            return g
        return gating.apply(g, _class_axis(record.gate), None) * cast(Tensor, record.scale).unsqueeze(1)

    def select(self, record: AffineRecord | None, index: Tensor) -> AffineRecord | None:
        if record is None:
            return None
        return AffineRecord(_per_image(record.gate, index), cast(Tensor, record.scale)[index], ())

    def describe(self) -> list[str]:
        return [f"{f'{self.path}: Dropout p={self.dropout.p}':<70} | same mask"]


class FlattenUnit(Unit):
    """``flatten(x, 1)`` between the convolutional part and the linear head."""

    def __init__(self, path: str) -> None:
        self.path = path

    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, tuple[int, ...]]:
        return a.flatten(1), tuple(a.shape[1:])

    def decode(self, g: Tensor, record: tuple[int, ...], gating: Gating) -> Tensor:
        return g.unflatten(2, record)

    def select(self, record: tuple[int, ...], index: Tensor) -> tuple[int, ...]:
        return record

    def describe(self) -> list[str]:
        return [f"{f'{self.path}: flatten':<70} | unflatten"]


class SequenceUnit(Unit):
    """Units applied one after the other; decoded in reverse order."""

    def __init__(self, units: list[Unit], path: str = "") -> None:
        self.units, self.path = units, path

    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, list[Record]]:
        records = []
        for unit in self.units:
            a, record = unit.encode(a, gating)
            records.append(record)
        return a, records

    def decode(self, g: Tensor, record: list[Record], gating: Gating) -> Tensor:
        for unit, rec in zip(reversed(self.units), reversed(record)):
            g = unit.decode(g, rec, gating)
        return g

    def select(self, record: list[Record], index: Tensor) -> list[Record]:
        return [unit.select(rec, index) for unit, rec in zip(self.units, record)]

    def describe(self) -> list[str]:
        return [line for unit in self.units for line in unit.describe()]


class ResidualRecord(NamedTuple):
    main: list[Record]
    shortcut: Record
    gate: Tensor | None


class ResidualUnit(Unit):
    """A residual block ``activation(main(a) + shortcut(a))``: ResNet's (ReLU after the sum) or
    MobileNetV2's inverted residual (identity shortcut, nothing after the sum).

    The sum is a linear map: its relevance is split between the two branches in proportion to
    their contributions, which in the ``g`` representation means both branches receive the same
    signal, and the decoded branches add up at the block input.
    """

    def __init__(self, main: SequenceUnit, shortcut: Unit | None, activation: str | None, path: str) -> None:
        self.main, self.shortcut, self.activation, self.path = main, shortcut, activation, path

    def encode(self, a: Tensor, gating: Gating) -> tuple[Tensor, ResidualRecord]:
        z_main, main_record = self.main.encode(a, gating)
        if self.shortcut is None:
            z_short, short_record = a, None
        else:
            z_short, short_record = self.shortcut.encode(a, gating)
        s = z_main + z_short
        return activate(s, self.activation), ResidualRecord(main_record, short_record, gating.gate(s, self.activation))

    def decode(self, g: Tensor, record: ResidualRecord, gating: Gating) -> Tensor:
        q = gating.apply(g, _class_axis(record.gate), self.activation)
        g_main = self.main.decode(q, record.main, gating)
        g_short = q if self.shortcut is None else self.shortcut.decode(q, record.shortcut, gating)
        return g_main + g_short

    def select(self, record: ResidualRecord, index: Tensor) -> ResidualRecord:
        shortcut = None if self.shortcut is None else self.shortcut.select(record.shortcut, index)
        return ResidualRecord(self.main.select(record.main, index), shortcut, _per_image(record.gate, index))

    def describe(self) -> list[str]:
        lines = [f"{self.path}: residual block {{"] + ["  " + line for line in self.main.describe()]
        if self.shortcut is not None:
            lines += ["  shortcut " + line for line in self.shortcut.describe()]
        end = "} sum" + _activation_name(self.activation)
        lines.append(f"{end:<70} | {_tied_activation(self.activation)}signal to both branches, sum at input")
        return lines
