"""Composites: a rule for every unit of a plan, chosen once, when the plan is built.

As zennit's composites map module types to rules, a composite here maps a unit's *kind* to a rule: "conv" and
"linear" for convolutions and dense layers, "first" for the input layer (the first of them in forward order),
"sum" for residual sums and "pool" for average pools. The presets mean what zennit's composites of the same names
mean (Kohlbrenner et al. 2020, "Towards best practice in explaining neural network decisions with LRP"), and
``LRPConfig.rules`` maps kinds or layer-path patterns to other rules on top of a preset.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, get_args

from unrolled_lrp.lrp.config import LayerKind, LRPConfig
from unrolled_lrp.lrp.rules import (
    Activation,
    AlphaBeta,
    DecoderReLU,
    Epsilon,
    Flat,
    Gamma,
    GateRule,
    Rule,
    WSquare,
    ZBox,
    Zero,
    ZPlus,
)

if TYPE_CHECKING:
    from unrolled_lrp.lrp.units import AffineUnit, Unit

#: Every preset's rule per unit kind ("first": the input layer; absent: the layer's own kind decides).
#: "norm" is zennit's Norm (epsilon with the small ``stabilizer``), which its composites give sums and pools.
PRESETS: dict[str, dict[str, str]] = {
    "zero": {"conv": "zero", "linear": "zero", "sum": "zero", "pool": "zero"},
    "epsilon": {"conv": "epsilon", "linear": "epsilon", "sum": "epsilon", "pool": "epsilon"},
    "epsilon_plus": {"conv": "zplus", "linear": "epsilon", "sum": "norm", "pool": "norm"},
    "epsilon_plus_flat": {"conv": "zplus", "linear": "epsilon", "sum": "norm", "pool": "norm", "first": "flat"},
    "epsilon_gamma_box": {"conv": "gamma", "linear": "epsilon", "sum": "norm", "pool": "norm", "first": "zbox"},
    "epsilon_alpha2_beta1_flat": {
        "conv": "alpha_beta",
        "linear": "epsilon",
        "sum": "norm",
        "pool": "norm",
        "first": "flat",
    },
}

#: The layer kinds a preset's input-layer rule takes, as zennit's ``first_map``s: zB only a convolution, flat also
#: a dense layer. Another input layer keeps the rule of its kind.
FIRST_LAYER_KINDS = {"zbox": ("conv",), "flat": ("conv", "linear")}
#: The rules for maps without weights of their own (residual sums, average pools).
GATE_RULES = ("zero", "epsilon", "norm")
#: The rules that end the decoder: only for the input layer.
INPUT_RULES = ("flat", "wsquare", "zbox")
KINDS = frozenset(get_args(LayerKind))


def make_rule(name: str, config: LRPConfig, path: str) -> Rule:
    """The rule ``name`` with its parameters from ``config``; ``path`` names the layer in errors."""
    if name == "zbox":
        if config.low is None or config.high is None:
            raise ValueError(
                f"the zB rule of layer '{path}' needs the input range: set LRPConfig low and high (e.g. the range of "
                "a [0, 1] image after the data's normalisation; ulrp fills them in from --data)"
            )
        return ZBox(config.low, config.high, config.stabilizer)
    factories: dict[str, Callable[[], Rule]] = {
        "zero": Zero,
        "epsilon": lambda: Epsilon(config.epsilon),
        "norm": lambda: Epsilon(config.stabilizer),
        "gamma": lambda: Gamma(config.gamma, config.stabilizer),
        "zplus": lambda: ZPlus(config.stabilizer),
        "alpha_beta": lambda: AlphaBeta(config.alpha, config.beta, config.stabilizer),
        "flat": lambda: Flat(config.stabilizer),
        "wsquare": lambda: WSquare(config.stabilizer),
    }
    return factories[name]()


class Binder:
    """Hands out the rules of one configuration to a plan's units, visited in forward order (:meth:`Unit.bind`).

    It remembers which unit is the input layer (the first convolution or dense layer) and which keys of the user
    mapping matched, so that a key matching no layer is an error rather than silently nothing.
    """

    def __init__(self, config: LRPConfig) -> None:
        self.config = config
        self.preset = PRESETS[config.composite]
        self.affine_units: list[AffineUnit] = []
        self.paths: list[str] = []
        self.matched: set[str] = set()

    def activation(self, kind: str | None) -> Activation:
        return Activation(kind, self.config.relu6_mode)

    def affine_rule(self, unit: AffineUnit) -> Rule:
        """The rule of a convolution or dense layer."""
        first = not self.affine_units
        self.affine_units.append(unit)
        name = self._name(unit.path, ("first", unit.kind) if first else (unit.kind,))
        if name in INPUT_RULES and not first:
            raise ValueError(f"rule {name!r} applies to the input layer only, not to layer '{unit.path}'")
        return self._rule(name, unit.path)

    def gate_rule(self, path: str, kind: str) -> GateRule:
        """The rule of a residual sum (``kind`` "sum") or an average pool ("pool")."""
        name = self._name(path, (kind,))
        if name not in GATE_RULES:
            raise ValueError(
                f"layer '{path}' ({kind}) has no weights; its rule must be one of {GATE_RULES}, not {name!r}"
            )
        rule = self._rule(name, path)
        assert isinstance(rule, GateRule)
        return rule

    def _name(self, path: str, kinds: tuple[str, ...]) -> str:
        """The preset's rule for the first of ``kinds`` it names and that takes this layer, then every matching user
        key in order."""
        self.paths.append(path)
        layer_kind = kinds[-1]
        name = next(
            self.preset[kind]
            for kind in kinds
            if kind in self.preset and layer_kind in FIRST_LAYER_KINDS.get(self.preset[kind], (layer_kind,))
        )
        for key, rule in (self.config.rules or {}).items():
            if key in kinds or (key not in KINDS and fnmatchcase(path, key)):
                self.matched.add(key)
                name = rule
        return name

    def _rule(self, name: str, path: str) -> Rule:
        return DecoderReLU() if self.config.activations == "relu" else make_rule(name, self.config, path)

    def check_complete(self) -> None:
        """Every key of the user mapping must have matched a layer."""
        unmatched = [key for key in self.config.rules or {} if key not in self.matched]
        if unmatched:
            raise ValueError(
                f"LRPConfig.rules: {unmatched} match no layer. Keys are layer kinds ({', '.join(sorted(KINDS))}) or "
                f"fnmatch patterns on layer paths, which are: {', '.join(self.paths)}"
            )


def bind(plan: Unit, config: LRPConfig) -> Binder:
    """Give every unit of ``plan`` its rule under ``config``; the returned binder lists the plan's dense and
    convolution units in forward order."""
    binder = Binder(config)
    plan.bind(binder, signed_input=True)
    binder.check_complete()
    return binder
