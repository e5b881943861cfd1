"""Encoder-decoder units of an unrolled classifier (paper, Fig. 1).

Each unit wraps modules of the classifier itself, never copies: ``encode`` runs the classifier's
forward step and records what the decoder needs (gates, max-pool switches, BatchNorm scales, a rule's
denominators); ``decode`` is the tied transposed step. Decoder signals carry a class axis: ``(B, K, ...)`` for K
classes, while records have one entry per image and broadcast over K.

A decoder signal ``g`` at a unit's output ``a`` stands for the relevance ``R = a * g``; ``decode``
returns the signal at the unit's input. Which LRP rule a unit's linear map follows is chosen once, when the plan
is built: ``bind`` takes it from a composite (:mod:`unrolled_lrp.lrp.composites`), walking the units in forward
order, and reports whether the unit's output can be negative, which the next unit's rule needs to know.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unrolled_lrp.lrp.affine import AffineMap, batchnorm_affine
from unrolled_lrp.lrp.records import Record, channels_innermost
from unrolled_lrp.lrp.rules import IDENTITY, Activation, GateRule, Rule, Zero, per_class

if TYPE_CHECKING:
    from unrolled_lrp.lrp.composites import Binder


class Unit(ABC):
    """One step of the classifier's forward pass together with its tied decoder step."""

    path: str
    #: Whether the unit only reshapes (Flatten): then an input-layer rule may sit behind it.
    reshapes_only = False

    @abstractmethod
    def encode(self, a: Tensor) -> tuple[Tensor, Record]:
        """Run the classifier's step on ``a``; return its output and the decoder's record."""

    @abstractmethod
    def decode(self, g: Tensor, record: Record) -> Tensor:
        """Tied transposed step: the signal at the unit's output becomes the signal at its input."""

    @abstractmethod
    def select(self, record: Record, index: Tensor) -> Record:
        """The record restricted to the images ``index`` (heatmaps for a subset of a batch)."""

    @abstractmethod
    def describe(self) -> list[str]:
        """Lines showing encoder step and tied decoder step, for printing the architecture."""

    def bind(self, binder: Binder, signed_input: bool) -> bool:
        """Take this unit's rules from ``binder``; ``signed_input``: whether its input can be negative. Returns
        whether its output can be. Units without a linear map of their own keep the sign of their input."""
        return signed_input

    def input_relevance(self, g: Tensor, record: Record, x: Tensor) -> Tensor:
        """The relevance ``(B, K, ...)`` at this unit's input ``x``, the network's input: the input times the decoded
        signal (the paper's final multiplication), unless an input-layer rule says otherwise."""
        return per_class(x) * self.decode(g, record)


def _activation_name(activation: str | None) -> str:
    return {None: "", "relu": " + ReLU", "relu6": " + ReLU6"}[activation]


def _tied_activation(activation: str | None) -> str:
    return "" if activation is None else "tied activation + "


class AffineRecord(NamedTuple):
    rule: Record
    scale: Tensor | None
    in_size: tuple[int, ...]


class AffineUnit(Unit):
    """``Conv2d -> [BatchNorm2d] -> [activation]`` or ``Linear -> [activation]``, decoded by its rule through the
    same weight (the transposed convolution, the transposed matrix). For the output layer, decoding the one-hot
    class selector gives the class-specific bottleneck of the paper: the class's row of the output weights.

    ``decoder``: None (tied: the classifier's own weight) or the untied decoder's weights and this layer's key in
    them, read at every call.
    """

    kind: str  # "conv" or "linear": what a composite maps to a rule

    def __init__(self, module: nn.Conv2d | nn.Linear, bn: nn.BatchNorm2d | None, activation: str | None, path: str):
        self.module, self.bn, self.activation, self.path = module, bn, activation, path
        self.rule: Rule = Zero()
        self.act = Activation(activation)
        self.signed_input = True
        self.decoder: tuple[nn.ParameterDict, str] | None = None

    def bind(self, binder: Binder, signed_input: bool) -> bool:
        self.rule, self.act, self.signed_input = (
            binder.affine_rule(self),
            binder.activation(self.activation),
            signed_input,
        )
        return self.act.signed

    def _map(self, scale: Tensor | None, shift: Tensor | None, in_size: tuple[int, ...]) -> AffineMap:
        decoder_weight = None if self.decoder is None else self.decoder[0][self.decoder[1]]
        return AffineMap(self.module, scale, shift, in_size, decoder_weight)

    def encode(self, a: Tensor) -> tuple[Tensor, AffineRecord]:
        c = self.module(a)
        scale, shift = batchnorm_affine(self.bn, c) if self.bn is not None else (None, None)
        z = self.bn(c) if self.bn is not None else c
        in_size = tuple(a.shape[1:])
        record = self.rule.encode(self._map(scale, shift, in_size), a, z, self.act, self.signed_input)
        return self.act(z), AffineRecord(channels_innermost(record), scale, in_size)

    def decode(self, g: Tensor, record: AffineRecord) -> Tensor:
        return self.rule.decode(self._map(record.scale, None, record.in_size), g, record.rule, self.act)

    def input_relevance(self, g: Tensor, record: AffineRecord, x: Tensor) -> Tensor:
        layer = self._map(record.scale, None, record.in_size)
        return self.rule.input_relevance(layer, g, record.rule, self.act, x)

    def select(self, record: AffineRecord, index: Tensor) -> AffineRecord:
        return record._replace(rule=self.rule.select(record.rule, index))

    def _decoder_name(self) -> str:
        return "tied" if self.decoder is None else "untied"


class ConvUnit(AffineUnit):
    """``Conv2d -> [BatchNorm2d] -> [ReLU]``; decoded by the transposed convolution with the same weight."""

    kind = "conv"
    module: nn.Conv2d

    def describe(self) -> list[str]:
        c = self.module
        enc = f"{self.path}: Conv2d {c.in_channels}->{c.out_channels} k{c.kernel_size} s{c.stride}"
        enc += " + BatchNorm" if self.bn is not None else ""
        enc += _activation_name(self.activation)
        dec = f"{self._decoder_name()} ConvTranspose2d {c.out_channels}->{c.in_channels}"
        dec += f" groups={c.groups}" if c.groups > 1 else ""
        return [f"{enc:<70} | {_tied_activation(self.activation)}{dec}, {self.rule.describe()}"]


class LinearUnit(AffineUnit):
    """``Linear -> [ReLU]``; decoded by multiplication with the same weight matrix."""

    kind = "linear"
    module: nn.Linear

    def __init__(self, linear: nn.Linear, activation: str | None, path: str) -> None:
        super().__init__(linear, None, activation, path)

    @property
    def linear(self) -> nn.Linear:
        return self.module

    def describe(self) -> list[str]:
        lin = self.module
        enc = f"{self.path}: Linear {lin.in_features}->{lin.out_features}" + _activation_name(self.activation)
        dec = f"{self._decoder_name()} Linear^T {lin.out_features}->{lin.in_features}"
        return [f"{enc:<70} | {_tied_activation(self.activation)}{dec}, {self.rule.describe()}"]


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

    def encode(self, a: Tensor) -> tuple[Tensor, PoolRecord]:
        p = self.pool
        out, indices = F.max_pool2d(
            a, p.kernel_size, p.stride, p.padding, p.dilation, ceil_mode=p.ceil_mode, return_indices=True
        )
        return out, PoolRecord(indices, tuple(a.shape[-2:]))

    def decode(self, g: Tensor, record: PoolRecord) -> Tensor:
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


class GateRecord(NamedTuple):
    gate: Tensor | None
    in_size: tuple[int, ...]


class AdaptiveAvgPoolUnit(Unit):
    """``AdaptiveAvgPool2d`` (global average pooling for ResNets): a linear map, decoded by its transpose through
    a gate rule (LRP-0, or zennit's Norm in the presets)."""

    def __init__(self, pool: nn.AdaptiveAvgPool2d, path: str) -> None:
        self.pool, self.path = pool, path
        self.rule: GateRule = Zero()

    def bind(self, binder: Binder, signed_input: bool) -> bool:
        self.rule = binder.gate_rule(self.path, "pool")
        return signed_input

    def encode(self, a: Tensor) -> tuple[Tensor, GateRecord]:
        out = self.pool(a)
        return out, GateRecord(self.rule.gate(out, IDENTITY), tuple(a.shape[-2:]))

    def decode(self, g: Tensor, record: GateRecord) -> Tensor:
        q = self.rule.apply(g, None if record.gate is None else per_class(record.gate), IDENTITY)
        (h, w), (oh, ow) = record.in_size, q.shape[-2:]
        return torch.einsum("bkcij,ih,jw->bkchw", q, adaptive_pool_matrix(h, oh, q), adaptive_pool_matrix(w, ow, q))

    def select(self, record: GateRecord, index: Tensor) -> GateRecord:
        return record._replace(gate=self.rule.select(record.gate, index))

    def describe(self) -> list[str]:
        encoder = f"{self.path}: AdaptiveAvgPool2d {self.pool.output_size}"
        return [f"{encoder:<70} | tied up-sampling, {self.rule.describe()}"]


class DropoutUnit(Unit):
    """``Dropout``: in training an element-wise linear map whose mask the decoder reuses; relevance passes it
    unchanged (``R_in = a_in * mask * g = R_out``)."""

    def __init__(self, dropout: nn.Dropout, path: str) -> None:
        self.dropout, self.path = dropout, path

    def encode(self, a: Tensor) -> tuple[Tensor, Tensor | None]:
        if not self.dropout.training or self.dropout.p == 0:
            return a, None
        mask = F.dropout(torch.ones_like(a), self.dropout.p, training=True)
        return a * mask, mask

    def decode(self, g: Tensor, record: Tensor | None) -> Tensor:
        return g if record is None else g * per_class(record)

    def select(self, record: Tensor | None, index: Tensor) -> Tensor | None:
        return None if record is None else record[index]

    def describe(self) -> list[str]:
        return [f"{f'{self.path}: Dropout p={self.dropout.p}':<70} | same mask"]


class FlattenUnit(Unit):
    """``flatten(x, 1)`` between the convolutional part and the linear head."""

    reshapes_only = True

    def __init__(self, path: str) -> None:
        self.path = path

    def encode(self, a: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        return a.flatten(1), tuple(a.shape[1:])

    def decode(self, g: Tensor, record: tuple[int, ...]) -> Tensor:
        return g.unflatten(2, record)

    def select(self, record: tuple[int, ...], index: Tensor) -> tuple[int, ...]:
        return record

    def describe(self) -> list[str]:
        return [f"{f'{self.path}: flatten':<70} | unflatten"]


class SequenceUnit(Unit):
    """Units applied one after the other; decoded in reverse order."""

    def __init__(self, units: list[Unit], path: str = "") -> None:
        self.units, self.path = units, path

    def bind(self, binder: Binder, signed_input: bool) -> bool:
        for unit in self.units:
            signed_input = unit.bind(binder, signed_input)
        return signed_input

    def encode(self, a: Tensor) -> tuple[Tensor, list[Record]]:
        records = []
        for unit in self.units:
            a, record = unit.encode(a)
            records.append(record)
        return a, records

    def decode(self, g: Tensor, record: list[Record]) -> Tensor:
        for unit, rec in zip(reversed(self.units), reversed(record)):
            g = unit.decode(g, rec)
        return g

    def input_relevance(self, g: Tensor, record: list[Record], x: Tensor) -> Tensor:
        """Decode down to the input layer, which gives the relevance; units that only reshape before it pass the
        input forward and the relevance back."""
        first = next(i for i, unit in enumerate(self.units) if not unit.reshapes_only or i == len(self.units) - 1)
        for unit, rec in zip(reversed(self.units[first + 1 :]), reversed(record[first + 1 :])):
            g = unit.decode(g, rec)
        inputs = [x]
        for unit in self.units[:first]:
            inputs.append(unit.encode(inputs[-1])[0])
        relevance = self.units[first].input_relevance(g, record[first], inputs[-1])
        for unit, rec in zip(reversed(self.units[:first]), reversed(record[:first])):
            relevance = unit.decode(relevance, rec)
        return relevance

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
    their contributions (a gate rule: LRP-0, or zennit's Norm in the presets), which in the ``g`` representation
    means both branches receive the same signal, and the decoded branches add up at the block input. zennit itself
    does this only where a canonizer turns the sum into a module (its ResNet canonizer); MobileNetV2's sums it
    passes as a plain gradient, which hands each branch the whole relevance.
    """

    def __init__(self, main: SequenceUnit, shortcut: Unit | None, activation: str | None, path: str) -> None:
        self.main, self.shortcut, self.activation, self.path = main, shortcut, activation, path
        self.rule: GateRule = Zero()
        self.act = Activation(activation)

    def bind(self, binder: Binder, signed_input: bool) -> bool:
        self.main.bind(binder, signed_input)
        if self.shortcut is not None:
            self.shortcut.bind(binder, signed_input)
        self.rule, self.act = binder.gate_rule(self.path, "sum"), binder.activation(self.activation)
        return self.act.signed

    def encode(self, a: Tensor) -> tuple[Tensor, ResidualRecord]:
        z_main, main_record = self.main.encode(a)
        if self.shortcut is None:
            z_short, short_record = a, None
        else:
            z_short, short_record = self.shortcut.encode(a)
        s = z_main + z_short
        return self.act(s), ResidualRecord(main_record, short_record, channels_innermost(self.rule.gate(s, self.act)))

    def decode(self, g: Tensor, record: ResidualRecord) -> Tensor:
        q = self.rule.apply(g, None if record.gate is None else per_class(record.gate), self.act)
        g_main = self.main.decode(q, record.main)
        g_short = q if self.shortcut is None else self.shortcut.decode(q, record.shortcut)
        return g_main + g_short

    def input_relevance(self, g: Tensor, record: ResidualRecord, x: Tensor) -> Tensor:
        """A block at the network's input: both branches see the input itself."""
        q = self.rule.apply(g, None if record.gate is None else per_class(record.gate), self.act)
        short = per_class(x) * q if self.shortcut is None else self.shortcut.input_relevance(q, record.shortcut, x)
        return self.main.input_relevance(q, record.main, x) + short

    def select(self, record: ResidualRecord, index: Tensor) -> ResidualRecord:
        shortcut = None if self.shortcut is None else self.shortcut.select(record.shortcut, index)
        gate = self.rule.select(record.gate, index)
        return ResidualRecord(self.main.select(record.main, index), shortcut, gate)

    def describe(self) -> list[str]:
        lines = [f"{self.path}: residual block {{"] + ["  " + line for line in self.main.describe()]
        if self.shortcut is not None:
            lines += ["  shortcut " + line for line in self.shortcut.describe()]
        end = "} sum" + _activation_name(self.activation)
        decoder = f"signal to both branches, sum at input, {self.rule.describe()}"
        lines.append(f"{end:<70} | {_tied_activation(self.activation)}{decoder}")
        return lines
