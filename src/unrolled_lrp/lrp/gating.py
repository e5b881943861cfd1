"""Rules: how the decoder turns the encoder's pre-activations into "tied activations".

LRP through a linear map with input ``a`` and output ``z`` is ``R_in = a * W^T (R_out / stab(z))``.
Carrying ``g`` with ``R = a * g`` instead of ``R`` itself, every activation of the encoder becomes a
multiplicative gate ``a / stab(z)`` in the decoder (paper, section 2.2.3):

* LRP-0: ``relu(z) / z`` collapses to the Heaviside ``H(z)``, and a linear pass-through ``z / z`` to 1.
  No division happens at all, so the decoder is exact (it equals input x gradient).
* LRP-epsilon: the division stays, ``a / (z + eps * sign(z))``; it is differentiable in ``z``, so a
  heatmap loss reaches the encoder's pre-activations (paper, section 2.4.1).
* WS-AE ablation: no gates from the encoder; the decoder applies standard ReLUs to its own signal.

ReLU6 (``min(max(z, 0), 6)``, MobileNetV2) has two readings, chosen by ``LRPConfig.relu6``:

* ``"gradient"``: the activation is ``relu(z)`` where ``z < 6`` and the constant 6 elsewhere; a constant
  carries no relevance (like a bias), so the LRP-0 gate is ``1[0 < z < 6]``, ReLU6's derivative, and the
  heatmaps stay equal to input x gradient.
* ``"ratio"``: LRP-0's ``a / z`` taken literally, ``relu6(z) / z``: 1 on ``0 < z <= 6``, ``6 / z`` above.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

from unrolled_lrp.lrp.config import LRPConfig

#: The activations the decoder can tie: what follows a linear map (None: nothing, a linear pass-through).
ACTIVATIONS = {"relu": torch.relu, "relu6": F.relu6}


def activate(z: Tensor, activation: str | None) -> Tensor:
    """The encoder's activation ``activation`` ("relu", "relu6" or None) applied to ``z``."""
    return z if activation is None else ACTIVATIONS[activation](z)


def stabilize(z: Tensor, epsilon: float) -> Tensor:
    """``z + epsilon * sign(z)``, with sign(0) taken as +1 so that the result is never zero."""
    return torch.where(z >= 0, z + epsilon, z - epsilon)


class Gating(ABC):
    """Records a gate from an encoder output and applies it to the decoder signal.

    ``activation`` is what followed the linear map in the encoder: "relu", "relu6" or None.
    """

    @abstractmethod
    def gate(self, z: Tensor, activation: str | None) -> Tensor | None:
        """Gate for the decoder, from the output ``z`` of a linear map."""

    @abstractmethod
    def apply(self, g: Tensor, gate: Tensor | None, activation: str | None) -> Tensor:
        """Decoder signal after the tied activation."""


class HeavisideGating(Gating):
    """LRP-0: tied activations are Heaviside functions of the encoder's pre-activations, stored as bool.

    ReLU6 in "ratio" mode is the exception: its gate ``relu6(z) / z`` is stored as a float and stays
    differentiable in ``z`` (where ``z > 6``), so training follows the heatmaps it computes.
    """

    def __init__(self, relu6: str = "gradient") -> None:
        self.relu6 = relu6

    def gate(self, z: Tensor, activation: str | None) -> Tensor | None:
        if activation is None:
            return None
        if activation == "relu":
            return z.detach() > 0
        if self.relu6 == "gradient":
            return (z.detach() > 0) & (z.detach() < 6)
        return (z.detach() > 0) * (6 / z.clamp(min=6))  # 1 on (0, 6], 6 / z above; no 0 / 0 in backward

    def apply(self, g: Tensor, gate: Tensor | None, activation: str | None) -> Tensor:
        # Converting the per-image gate once is far cheaper than a bool-by-float product over all classes.
        return g if gate is None else g * gate.to(g.dtype)


class EpsilonGating(Gating):
    """LRP-epsilon (paper Eq. 1): gates ``a / (z + eps * sign(z))``, differentiable in ``z``.

    For ReLU6, ``a`` is ``relu6(z)`` ("ratio") or ``relu(z) * 1[z < 6]`` ("gradient": saturated units are
    constants and pass nothing).
    """

    def __init__(self, epsilon: float, relu6: str = "gradient") -> None:
        self.epsilon, self.relu6 = epsilon, relu6

    def gate(self, z: Tensor, activation: str | None) -> Tensor:
        if activation == "relu6" and self.relu6 == "gradient":
            a = torch.relu(z) * (z.detach() < 6)
        else:
            a = activate(z, activation)
        return a / stabilize(z, self.epsilon)

    def apply(self, g: Tensor, gate: Tensor | None, activation: str | None) -> Tensor:
        return g if gate is None else g * gate


class ReLUGating(Gating):
    """WS-AE ablation: standard ReLUs on the decoder signal replace the tied activations (ReLU6 included)."""

    def gate(self, z: Tensor, activation: str | None) -> None:
        return None

    def apply(self, g: Tensor, gate: Tensor | None, activation: str | None) -> Tensor:
        return g if activation is None else torch.relu(g)


def make_gating(config: LRPConfig) -> Gating:
    """The gating of a validated configuration."""
    if config.activations == "relu":
        return ReLUGating()
    if config.rule == "zero":
        return HeavisideGating(config.relu6)
    return EpsilonGating(config.epsilon, config.relu6)
