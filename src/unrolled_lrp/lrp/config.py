"""The LRP options, in one place: the composite (a rule per layer) and its parameters, decoder activations and
weights, ReLU6 treatment, class chunking.

``unroll``, :class:`~unrolled_lrp.lrp.UnrolledLRP`, the segmentation models and every ``ulrp`` command take an
:class:`LRPConfig` whole (``--lrp.*``), so a new option is added here and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal, get_args, get_type_hints

CompositeName = Literal[
    "zero", "epsilon", "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box", "epsilon_alpha2_beta1_flat"
]
RuleName = Literal["zero", "epsilon", "norm", "gamma", "zplus", "alpha_beta", "flat", "wsquare", "zbox"]
#: What a key of ``LRPConfig.rules`` may name instead of a layer path pattern.
LayerKind = Literal["conv", "linear", "first", "sum", "pool"]
Bound = float | list[float]


@dataclass(frozen=True)
class LRPConfig:
    """How the decoder propagates relevance.

    Args:
        composite: the rule of every layer, named as zennit's composites (Kohlbrenner et al. 2020):
            "zero": LRP-0 everywhere (exact: input x gradient on ReLU nets);
            "epsilon": LRP-epsilon everywhere;
            "epsilon_plus": z+ on convolutions, epsilon on dense layers;
            "epsilon_plus_flat": the same with the flat rule at the input layer;
            "epsilon_gamma_box": gamma on convolutions, epsilon on dense layers, zB at the input layer;
            "epsilon_alpha2_beta1_flat": alpha2-beta1 on convolutions, epsilon on dense layers, flat at the input.
            In all but "zero" and "epsilon", residual sums and average pools take zennit's Norm rule (epsilon with
            ``stabilizer``) and activations pass relevance on unchanged (see ``relu6``).
        rules: a user mapping over the composite, applied in order: key = a layer kind ("conv", "linear", "first"
            for the input layer, "sum" for residual sums, "pool" for average pools) or an fnmatch pattern on layer
            paths (e.g. "layer4.*", "features.0.0"); value = a rule: zero, epsilon, norm, gamma, zplus, alpha_beta,
            flat, wsquare or zbox (the last three only at the input layer; sums and pools take zero, epsilon or
            norm). ``UnrolledLRP.describe()`` lists every layer's path and rule.
        epsilon: the epsilon of LRP-epsilon (dense layers in the presets, every layer in "epsilon").
        gamma: the gamma rule's weight on positive contributions.
        alpha: the alpha-beta rule's weight on positive contributions; ``alpha - beta`` must be 1 (conservation).
        beta: the alpha-beta rule's weight on negative contributions.
        stabilizer: the small number every other rule adds to its denominators (zennit's default).
        low: zB's lowest input value, a scalar or one per input channel; None: the range of a [0, 1] image after
            the data's normalisation, filled in by whoever knows the data (``with_input_range``).
        high: zB's highest input value, likewise.
        activations: "tied" (gates from the encoder's pre-activations) or "relu" (the WS-AE ablation: standard
            ReLUs on the decoder's own signal; composite "zero" only).
        relu6: how a ReLU6 (MobileNetV2) passes relevance. "gradient": only where 0 < z < 6, so that LRP-0 equals
            input x gradient (a saturated unit is a constant and carries nothing). "ratio": LRP-0's own
            relu6(z) / z, i.e. all the relevance of the activation's output passes to its input, as zennit's Pass
            rule on activations does. "auto": "gradient" under composite "zero", "ratio" under every other.
        decoder_weights: "tied" (the decoder transposes the classifier's own weights, the paper's text) or
            "untied" (the decoder owns a copy of every convolution and dense weight, trained separately, as the
            authors' released code effectively does on a GPU); gates, pooling switches and the rules'
            denominators always come from the classifier.
        untied_init: where a run initialises an untied decoder: "classifier" (a copy of the classifier that starts
            the segmentation training) or "backbone" (the ImageNet weights of the backbone and a fresh class
            bottleneck: the official code's state).
        class_chunk_size: decode at most this many classes at once. Bounds memory; the result is identical.
            When gradients are recorded each chunk is checkpointed (recomputed in backward), so memory stays
            bounded during training too. None: all classes at once.
    """

    composite: CompositeName = "zero"
    rules: dict[str, str] | None = None
    epsilon: float = 1e-6
    gamma: float = 0.25
    alpha: float = 2.0
    beta: float = 1.0
    stabilizer: float = 1e-6
    low: Bound | None = None
    high: Bound | None = None
    activations: Literal["tied", "relu"] = "tied"
    relu6: Literal["auto", "gradient", "ratio"] = "auto"
    decoder_weights: Literal["tied", "untied"] = "tied"
    untied_init: Literal["classifier", "backbone"] = "classifier"
    class_chunk_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("composite", "activations", "relu6", "decoder_weights", "untied_init"):
            _require_choice(name, getattr(self, name), _choices(name))
        for key, rule in (self.rules or {}).items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"rules: a key must be a layer kind or a layer path pattern, got {key!r}")
            _require_choice(f"rules[{key!r}]", rule, get_args(RuleName))
        for name in ("epsilon", "stabilizer"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"{name} must be > 0 (it keeps denominators away from zero), got {getattr(self, name)}"
                )
        if not self.gamma >= 0:
            raise ValueError(f"gamma must be >= 0 (0 is LRP-0 with a stabiliser), got {self.gamma}")
        if not (self.alpha >= 0 and self.beta >= 0 and math.isclose(self.alpha - self.beta, 1.0)):
            raise ValueError(f"alpha-beta needs alpha, beta >= 0 and alpha - beta = 1, got {self.alpha}, {self.beta}")
        _check_range(self.low, self.high)
        if self.activations == "relu" and (self.composite != "zero" or self.rules):
            raise ValueError(
                "activations='relu' (WS-AE) has no tied gates for a rule to use; use composite='zero' and no rules."
            )
        if self.class_chunk_size is not None and self.class_chunk_size < 1:
            raise ValueError(f"class_chunk_size must be a positive integer or None, got {self.class_chunk_size}")

    @property
    def relu6_mode(self) -> Literal["gradient", "ratio"]:
        """``relu6`` with "auto" resolved."""
        if self.relu6 == "auto":
            return "gradient" if self.composite == "zero" else "ratio"
        return self.relu6

    def with_input_range(self, low: Bound, high: Bound) -> LRPConfig:
        """This configuration with zB's bounds set to ``low``/``high`` where they are unset (None)."""
        return replace(self, low=low if self.low is None else self.low, high=high if self.high is None else self.high)


@cache
def _choices(field: str) -> tuple[object, ...]:
    """The values a Literal-typed field of :class:`LRPConfig` may take (its annotation, the one list of them)."""
    return get_args(get_type_hints(LRPConfig)[field])


def _require_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be {' or '.join(repr(c) for c in choices)}, got {value!r}")


def _as_list(bound: Bound) -> list[float]:
    return [float(bound)] if isinstance(bound, (int, float)) else [float(b) for b in bound]


def _check_range(low: Bound | None, high: Bound | None) -> None:
    if (low is None) != (high is None):
        raise ValueError(f"set both zB bounds low and high, or neither; got low={low}, high={high}")
    if low is None or high is None:
        return
    lows, highs = _as_list(low), _as_list(high)
    channels = max(len(lows), len(highs))
    if {len(lows), len(highs)} - {1, channels}:
        raise ValueError(f"low and high must be scalars or have one value per channel each, got {low} and {high}")
    if not all(lo < hi for lo, hi in zip(lows * (channels // len(lows)), highs * (channels // len(highs)))):
        raise ValueError(f"zB needs low < high in every channel, got low={low}, high={high}")
