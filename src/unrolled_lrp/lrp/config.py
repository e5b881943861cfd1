"""The LRP options, in one place: rule, its epsilon, decoder activations, ReLU6 treatment, class chunking.

``unroll``, :class:`~unrolled_lrp.lrp.UnrolledLRP` and the segmentation models take an :class:`LRPConfig`
whole, so a new option is added here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LRPConfig:
    """How the decoder propagates relevance.

    Args:
        rule: "zero" (LRP-0: exact, equals input x gradient on ReLU nets) or "epsilon" (LRP-epsilon).
        epsilon: the stabiliser of LRP-epsilon; unused by LRP-0, which divides by nothing.
        activations: "tied" (gates from the encoder's pre-activations) or "relu" (the WS-AE ablation: standard
            ReLUs on the decoder's own signal).
        relu6: how a ReLU6 (MobileNetV2) passes relevance. "gradient": gate 1 where 0 < z < 6, else 0, so the
            heatmaps equal input x gradient, as LRP-0 does on ReLU nets (a saturated unit is a constant, like a
            bias, and passes nothing). "ratio": LRP-0's own a/z = relu6(z)/z, which is 6/z where z > 6, so
            saturated units pass relevance on and conserve it.
        class_chunk_size: decode at most this many classes at once. Bounds memory; the result is identical.
            When gradients are recorded each chunk is checkpointed (recomputed in backward), so memory stays
            bounded during training too. None: all classes at once.
    """

    rule: str = "zero"
    epsilon: float = 1e-6
    activations: str = "tied"
    relu6: str = "gradient"
    class_chunk_size: int | None = None

    def __post_init__(self) -> None:
        _require_choice("rule", self.rule, ("zero", "epsilon"))
        _require_choice("activations", self.activations, ("tied", "relu"))
        _require_choice("relu6", self.relu6, ("gradient", "ratio"))
        if self.rule == "epsilon" and self.epsilon <= 0:
            raise ValueError(f"LRP-epsilon needs epsilon > 0, got {self.epsilon}; use rule='zero' for LRP-0.")
        if self.activations == "relu" and self.rule != "zero":
            raise ValueError("activations='relu' (WS-AE) has no tied gates for epsilon to stabilise; use rule='zero'.")
        if self.class_chunk_size is not None and self.class_chunk_size < 1:
            raise ValueError(f"class_chunk_size must be a positive integer or None, got {self.class_chunk_size}")


def _require_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be {' or '.join(repr(c) for c in choices)}, got {value!r}")
