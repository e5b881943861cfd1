"""LRP rules as tied decoder steps: how relevance passes one linear map of the encoder.

A linear map ``z = W a + b`` (a convolution or dense layer with its BatchNorm folded in, a residual sum, an average
pool) is followed by an activation. The decoder does not carry relevance ``R`` itself but a signal ``g`` with
``R = a * g`` at every activation output ``a`` (paper, section 2.2.3). A rule turns the signal at the map's output
into the signal at its input, reading only per-image *records* taken when the encoder ran, so that one encoder
pass serves every class:

* :class:`Zero` (LRP-0): ``R_in = a_in * W^T (R / z)``. The division cancels against ``a / z`` of the activation,
  so the record is a Heaviside gate and the decoder is exact (input x gradient on ReLU nets).
* :class:`Epsilon`: ``z`` stabilised, ``z + eps * sign(z)``; also zennit's Norm for sums and pools.
* :class:`Gamma`, :class:`ZPlus`, :class:`AlphaBeta`: the numerator's weights are modified (``W + gamma W+``,
  ``W+``, ...) and the denominator is the modified map's own output: one extra encoder pass per image, recorded;
  a decoder step per class. Positive and negative inputs take different weights (zennit's generalised rules), so
  where the map's input can be negative (no ReLU before it) the record keeps its sign.
* :class:`Flat`, :class:`WSquare`, :class:`ZBox`: input-layer rules whose relevance is not the input times a
  signal; they end the decoder (:meth:`Rule.input_relevance`).

The formulas are zennit's (0.5.1), including its stabiliser and which terms carry the bias, so that the presets
of :mod:`unrolled_lrp.lrp.composites` equal zennit's composites. Weights are read from the layer at every call,
never stored: a heatmap loss trains the classifier's own weights through numerators and denominators alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from unrolled_lrp.lrp.affine import AffineMap
from unrolled_lrp.lrp.records import Record, select_images

Transform = Callable[[Tensor], Tensor]


def stabilize(z: Tensor, epsilon: float) -> Tensor:
    """``z + epsilon * sign(z)``, with sign(0) taken as +1 so that the result is never zero (zennit's)."""
    return torch.where(z >= 0, z + epsilon, z - epsilon)


def per_class(record: Tensor) -> Tensor:
    """A per-image record ``(B, ...)`` with a class axis inserted, to broadcast over a signal ``(B, K, ...)``."""
    return record.unsqueeze(1)


@dataclass(frozen=True)
class Activation:
    """What follows a linear map in the encoder, as the rules read it.

    ``kind`` is "relu", "relu6" or None (nothing: a linear pass-through). The relevance at the map's output is
    ``carrier(z) * g``: relu(z) for ReLU; for ReLU6 relu6(z) ("ratio": the activation passes all its relevance on,
    zennit's Pass) or relu(z) where z < 6 ("gradient": a saturated unit is a constant and carries nothing, so
    LRP-0 equals input x gradient); z itself without an activation.
    """

    kind: str | None
    relu6: str = "gradient"

    def __call__(self, z: Tensor) -> Tensor:
        if self.kind is None:
            return z
        return torch.relu(z) if self.kind == "relu" else F.relu6(z)

    @property
    def signed(self) -> bool:
        """Whether the output can be negative (and so carry relevance where ``z < 0``)."""
        return self.kind is None

    def carrier(self, z: Tensor) -> Tensor:
        if self.kind == "relu6" and self.relu6 == "gradient":
            return torch.relu(z) * (z.detach() < 6)
        return self(z)

    def heaviside(self, z: Tensor) -> Tensor | None:
        """``carrier(z) / z`` without dividing: a bool gate where it is 0 or 1 (None: always 1)."""
        if self.kind is None:
            return None
        if self.kind == "relu":
            return z.detach() > 0
        if self.relu6 == "gradient":
            return (z.detach() > 0) & (z.detach() < 6)
        return (z.detach() > 0) * (6 / z.clamp(min=6))  # 1 on (0, 6], 6 / z above: differentiable, no 0 / 0


IDENTITY = Activation(None)


class Rule(ABC):
    """How relevance passes one linear map: a record per image when the encoder runs, a decoder step per class."""

    @abstractmethod
    def encode(self, layer: AffineMap, x: Tensor, z: Tensor, act: Activation, signed_input: bool) -> Record:
        """The record of one encoder pass: ``x`` the map's input, ``z`` its output, ``act`` what follows it;
        ``signed_input``: whether ``x`` can be negative (no ReLU before it)."""

    @abstractmethod
    def decode(self, layer: AffineMap, g: Tensor, record: Record, act: Activation) -> Tensor:
        """The signal at the map's input from the signal ``g`` ``(B, K, ...)`` at the activation's output."""

    def input_relevance(self, layer: AffineMap, g: Tensor, record: Record, act: Activation, x: Tensor) -> Tensor:
        """The relevance ``(B, K, ...)`` at the network's input ``x``: the input times the decoded signal."""
        return per_class(x) * self.decode(layer, g, record, act)

    def select(self, record: Record, index: Tensor) -> Record:
        """The record restricted to the images ``index``."""
        return select_images(record, index)

    @abstractmethod
    def describe(self) -> str:
        """The rule and its parameters, e.g. "gamma 0.25"."""


class GateRule(Rule):
    """A rule that rescales the signal element-wise (LRP-0, epsilon): it also serves maps without weights of their
    own, residual sums and average pools, whose units call :meth:`gate` and :meth:`apply` themselves."""

    @abstractmethod
    def gate(self, z: Tensor, act: Activation) -> Tensor | None:
        """The per-image gate ``carrier(z) / denominator`` (None: 1)."""

    def apply(self, g: Tensor, gate: Tensor | None, act: Activation) -> Tensor:
        """The signal at ``z``: ``g`` times the gate, which has its class axis already."""
        # Converting the per-image gate once is far cheaper than a bool-by-float product over all classes.
        return g if gate is None else g * gate.to(g.dtype)

    def encode(self, layer: AffineMap, x: Tensor, z: Tensor, act: Activation, signed_input: bool) -> Tensor | None:
        return self.gate(z, act)

    def decode(self, layer: AffineMap, g: Tensor, record: Tensor | None, act: Activation) -> Tensor:
        gate = None if record is None else per_class(record)
        return layer.transpose(self.apply(g, gate, act), layer.decoder_weight)


class Zero(GateRule):
    """LRP-0 (paper Eq. 1 with epsilon = 0): gates ``H(z)``, no division, exact."""

    def gate(self, z: Tensor, act: Activation) -> Tensor | None:
        return act.heaviside(z)

    def describe(self) -> str:
        return "LRP-0"


class Epsilon(GateRule):
    """LRP-epsilon: gates ``carrier(z) / (z + epsilon * sign(z))``, differentiable in ``z``, so a heatmap loss
    reaches the encoder's pre-activations (paper, section 2.4.1). With a tiny epsilon it is zennit's Norm rule,
    which the presets use for residual sums and average pools."""

    def __init__(self, epsilon: float = 1e-6) -> None:
        self.epsilon = epsilon

    def gate(self, z: Tensor, act: Activation) -> Tensor:
        return act.carrier(z) / stabilize(z, self.epsilon)

    def describe(self) -> str:
        return f"epsilon {self.epsilon:g}"


class DecoderReLU(GateRule):
    """The WS-AE ablation: no gates from the encoder; the decoder applies standard ReLUs to its own signal."""

    def gate(self, z: Tensor, act: Activation) -> None:
        return None

    def apply(self, g: Tensor, gate: Tensor | None, act: Activation) -> Tensor:
        return g if act.kind is None else torch.relu(g)

    def describe(self) -> str:
        return "decoder ReLU (WS-AE)"


def positive(t: Tensor) -> Tensor:
    return t.clamp(min=0)


def negative(t: Tensor) -> Tensor:
    return t.clamp(max=0)


class Message(NamedTuple):
    """One term of a modified-weight rule: the relevance ``coefficient * carrier(z) [z on one side of 0] / d``
    sent back through ``for_positive`` weights to positive inputs and ``for_negative`` weights to negative
    ones, where ``d = for_positive(W) x+ + for_positive(b) + for_negative(W) x-`` is the message's own forward pass.
    ``output_sign`` +1 or -1 restricts it to outputs of that sign (gamma), 0 sends it everywhere."""

    for_positive: Transform
    for_negative: Transform
    coefficient: float = 1.0
    output_sign: int = 0


class MessageRecord(NamedTuple):
    gates: Tensor  # (B, M, C_out, ...): one gate per message
    positive_inputs: Tensor | None  # x > 0 where the input can be negative, else None


class ModifiedWeightRule(Rule):
    """Gamma, z+ and alpha-beta: each a few :class:`Message` s (zennit's generalised forms, valid for inputs of
    either sign).

    Decoding stacks the messages along the channels and sends them back, to positive and to negative inputs at
    once, in one transposed convolution (:meth:`AffineMap.transpose_messages`): the class-batched signal is read
    once, however many messages and input signs the rule has.
    """

    def __init__(self, stabilizer: float = 1e-6) -> None:
        self.stabilizer = stabilizer

    @abstractmethod
    def messages(self) -> Sequence[Message]:
        """The rule's terms."""

    def _active(self, act: Activation) -> list[Message]:
        # Behind a ReLU the output relevance is 0 wherever z < 0: messages restricted to there carry nothing.
        return [m for m in self.messages() if act.signed or m.output_sign >= 0]

    def encode(self, layer: AffineMap, x: Tensor, z: Tensor, act: Activation, signed_input: bool) -> MessageRecord:
        carrier = act.carrier(z)
        weight, bias = layer.weight, layer.bias
        gates = []
        for message in self._active(act):
            mod_bias = None if bias is None else message.for_positive(bias)
            d = layer.forward(positive(x) if signed_input else x, message.for_positive(weight), mod_bias)
            if signed_input:
                d = d + layer.forward(negative(x), message.for_negative(weight), None)
            gate = carrier * (message.coefficient / stabilize(d, self.stabilizer))
            if message.output_sign:
                gate = gate * (z.detach() > 0 if message.output_sign > 0 else z.detach() < 0)
            gates.append(gate)
        return MessageRecord(torch.stack(gates, 1), x.detach() > 0 if signed_input else None)

    def decode(self, layer: AffineMap, g: Tensor, record: MessageRecord, act: Activation) -> Tensor:
        weight, messages = layer.decoder_weight, self._active(act)
        q = g.unsqueeze(2) * record.gates.unsqueeze(1)  # (B, K, M, C_out, ...)
        branches = [[m.for_positive(weight) for m in messages]]
        if record.positive_inputs is not None:
            branches.append([m.for_negative(weight) for m in messages])
        signals = layer.transpose_messages(q, branches)
        if record.positive_inputs is None:
            return signals[0]
        return torch.where(per_class(record.positive_inputs), signals[0], signals[1])


def _sum(tensors: Any) -> Tensor:
    iterator = iter(tensors)
    total = next(iterator)
    for t in iterator:
        total = total + t
    return total


class Gamma(ModifiedWeightRule):
    """LRP-gamma (Montavon et al. 2019), generalised to inputs of either sign (Andeol et al. 2021, zennit):
    ``W + gamma W+`` where input and output agree in sign, ``W + gamma W-`` where they do not, favouring positive
    contributions; gamma = 0 is LRP-0 (with a stabiliser)."""

    def __init__(self, gamma: float = 0.25, stabilizer: float = 1e-6) -> None:
        super().__init__(stabilizer)
        self.gamma = gamma

    def messages(self) -> list[Message]:
        def plus(t: Tensor) -> Tensor:
            return t + self.gamma * positive(t)

        def minus(t: Tensor) -> Tensor:
            return t + self.gamma * negative(t)

        return [Message(plus, minus, output_sign=1), Message(minus, plus, output_sign=-1)]

    def describe(self) -> str:
        return f"gamma {self.gamma:g}"


class AlphaBeta(ModifiedWeightRule):
    """LRP-alpha-beta (Bach et al. 2015): positive contributions weighted by alpha, negative ones by beta,
    ``alpha - beta = 1``."""

    def __init__(self, alpha: float = 2.0, beta: float = 1.0, stabilizer: float = 1e-6) -> None:
        super().__init__(stabilizer)
        self.alpha, self.beta = alpha, beta

    def messages(self) -> list[Message]:
        terms = [Message(positive, negative, self.alpha)]
        return terms + [Message(negative, positive, -self.beta)] if self.beta else terms

    def describe(self) -> str:
        return f"alpha {self.alpha:g} beta {self.beta:g}"


class ZPlus(AlphaBeta):
    """LRP-z+ (alpha 1, beta 0): only positive contributions; locates objects, blind to their class."""

    def __init__(self, stabilizer: float = 1e-6) -> None:
        super().__init__(1.0, 0.0, stabilizer)

    def describe(self) -> str:
        return "z+"


class InputTerm(NamedTuple):
    """One term of an input-layer rule: ``coefficient * source(x) * weight(W)^T q``, where the denominator of
    ``q`` adds up ``coefficient * forward(source(x), weight(W), weight(b) if the term has the bias)``."""

    source: Callable[[Tensor], Tensor]
    weight: Transform
    coefficient: float = 1.0
    bias: bool = True


class InputRule(Rule):
    """Flat, w² and zB: input-layer rules. Their relevance is not the input times a signal, so they end the
    decoder: :meth:`input_relevance`, not :meth:`decode`."""

    def __init__(self, stabilizer: float = 1e-6) -> None:
        self.stabilizer = stabilizer

    @abstractmethod
    def terms(self) -> Sequence[InputTerm]:
        """The rule's terms."""

    def encode(self, layer: AffineMap, x: Tensor, z: Tensor, act: Activation, signed_input: bool) -> Tensor:
        weight, bias = layer.weight, layer.bias

        def forward(term: InputTerm) -> Tensor:
            term_bias = None if bias is None or not term.bias else term.weight(bias)
            return term.coefficient * layer.forward(term.source(x), term.weight(weight), term_bias)

        return act.carrier(z) / stabilize(_sum(forward(term) for term in self.terms()), self.stabilizer)

    def decode(self, layer: AffineMap, g: Tensor, record: Tensor, act: Activation) -> Tensor:
        raise TypeError(
            f"{self.describe()} is an input-layer rule: it needs the network's input itself, but a layer before it "
            "changes that input (only a Flatten or the start of a residual block may come before it)"
        )

    def input_relevance(self, layer: AffineMap, g: Tensor, record: Tensor, act: Activation, x: Tensor) -> Tensor:
        terms = self.terms()
        q = (g * per_class(record)).unsqueeze(2)
        signals = layer.transpose_messages(q, [[term.weight(layer.decoder_weight)] for term in terms])
        return _sum(term.coefficient * per_class(term.source(x)) * s for term, s in zip(terms, signals))


class Flat(InputRule):
    """The flat rule (Lapuschkin et al. 2019): every input of a window receives an equal share."""

    def terms(self) -> list[InputTerm]:
        return [InputTerm(torch.ones_like, torch.ones_like, bias=False)]

    def describe(self) -> str:
        return "flat"


class WSquare(InputRule):
    """The w² rule (Montavon et al. 2017): shares in proportion to the squared weights, whatever the input."""

    def terms(self) -> list[InputTerm]:
        return [InputTerm(torch.ones_like, torch.square)]

    def describe(self) -> str:
        return "w²"


class ZBox(InputRule):
    """The zB rule (Montavon et al. 2017) for inputs bounded by ``low`` and ``high`` (scalars or per channel):
    ``x W - low W+ - high W-``, whose terms are all positive contributions within the box."""

    def __init__(self, low: float | Sequence[float], high: float | Sequence[float], stabilizer: float = 1e-6) -> None:
        super().__init__(stabilizer)
        self.low, self.high = low, high

    def _bound(self, value: float | Sequence[float]) -> Callable[[Tensor], Tensor]:
        def source(x: Tensor) -> Tensor:
            per_channel = x.new_tensor(value).reshape(1, -1, *([1] * (x.dim() - 2)))
            if per_channel.shape[1] not in (1, x.shape[1]):
                raise ValueError(
                    f"zB has {per_channel.shape[1]} bounds per channel but its layer's input has {x.shape[1]} "
                    "channels (a dense input layer sees a flat vector: give scalar bounds)"
                )
            return per_channel.expand_as(x)

        return source

    def terms(self) -> list[InputTerm]:
        return [
            InputTerm(lambda x: x, lambda w: w),
            InputTerm(self._bound(self.low), positive, -1.0),
            InputTerm(self._bound(self.high), negative, -1.0),
        ]

    def describe(self) -> str:
        return f"zB [{self.low}, {self.high}]"
