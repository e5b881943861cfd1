"""Rules: how the decoder turns the encoder's pre-activations into "tied activations".

LRP through a linear map with input ``a`` and output ``z`` is ``R_in = a * W^T (R_out / stab(z))``.
Carrying ``g`` with ``R = a * g`` instead of ``R`` itself, every activation of the encoder becomes a
multiplicative gate ``a / stab(z)`` in the decoder (paper, section 2.2.3):

* LRP-0: ``relu(z) / z`` collapses to the Heaviside ``H(z)``, and a linear pass-through ``z / z`` to 1.
  No division happens at all, so the decoder is exact (it equals input x gradient).
* LRP-epsilon: the division stays, ``a / (z + eps * sign(z))``; it is differentiable in ``z``, so a
  heatmap loss reaches the encoder's pre-activations (paper, section 2.4.1).
* WS-AE ablation: no gates from the encoder; the decoder applies standard ReLUs to its own signal.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor


def stabilize(z: Tensor, epsilon: float) -> Tensor:
    """``z + epsilon * sign(z)``, with sign(0) taken as +1 so that the result is never zero."""
    return torch.where(z >= 0, z + epsilon, z - epsilon)


class Gating(ABC):
    """Records a gate from an encoder output and applies it to the decoder signal."""

    @abstractmethod
    def gate(self, z: Tensor, activated: bool) -> Tensor | None:
        """Gate for the decoder, from the output ``z`` of a linear map (``activated``: a ReLU follows)."""

    @abstractmethod
    def apply(self, g: Tensor, gate: Tensor | None, activated: bool) -> Tensor:
        """Decoder signal after the tied activation."""


class HeavisideGating(Gating):
    """LRP-0: tied activations are Heaviside functions of the encoder's pre-activations, stored as bool."""

    def gate(self, z: Tensor, activated: bool) -> Tensor | None:
        return z.detach() > 0 if activated else None

    def apply(self, g: Tensor, gate: Tensor | None, activated: bool) -> Tensor:
        # Converting the per-image gate once is far cheaper than a bool-by-float product over all classes.
        return g if gate is None else g * gate.to(g.dtype)


class EpsilonGating(Gating):
    """LRP-epsilon (paper Eq. 1): gates ``a / (z + eps * sign(z))``, differentiable in ``z``."""

    def __init__(self, epsilon: float) -> None:
        if epsilon <= 0:
            raise ValueError(f"LRP-epsilon needs epsilon > 0, got {epsilon}; use rule='zero' for LRP-0.")
        self.epsilon = epsilon

    def gate(self, z: Tensor, activated: bool) -> Tensor:
        a = torch.relu(z) if activated else z
        return a / stabilize(z, self.epsilon)

    def apply(self, g: Tensor, gate: Tensor | None, activated: bool) -> Tensor:
        return g * gate


class ReLUGating(Gating):
    """WS-AE ablation: standard ReLUs on the decoder signal replace the tied activations."""

    def gate(self, z: Tensor, activated: bool) -> None:
        return None

    def apply(self, g: Tensor, gate: Tensor | None, activated: bool) -> Tensor:
        return torch.relu(g) if activated else g


def make_gating(rule: str, epsilon: float, activations: str) -> Gating:
    """The gating for a rule ("zero" or "epsilon") and decoder activations ("tied" or "relu")."""
    if activations not in ("tied", "relu"):
        raise ValueError(f"activations must be 'tied' or 'relu', got {activations!r}")
    if rule not in ("zero", "epsilon"):
        raise ValueError(f"rule must be 'zero' or 'epsilon', got {rule!r}")
    if activations == "relu":
        if rule != "zero":
            raise ValueError("activations='relu' (WS-AE) has no tied gates for epsilon to stabilise; use rule='zero'.")
        return ReLUGating()
    return HeavisideGating() if rule == "zero" else EpsilonGating(epsilon)
