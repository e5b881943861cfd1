"""Two independent references for LRP composites, to test the library's tied decoders against.

1. :func:`zennit_composite_heatmaps`: zennit 0.5.1's own composites (``EpsilonPlus``, ``EpsilonGammaBox``, ...)
   with the canonizers each torchvision family needs. Not differentiable with respect to the model's weights:
   zennit's ``ParamMod`` and its BatchNorm merge rebuild the parameters from ``param.data``, so a loss on zennit's
   heatmaps has no graph to the classifier's parameters.
2. :func:`naive_composite_heatmaps`: a plain relevance-form implementation, written from the rules' formulas,
   sharing no code with zennit or the library, and differentiable: each layer's rule is a modified forward
   pass and ``torch.autograd.grad(..., create_graph=True)`` of it, with BatchNorm merged into the convolution by
   differentiable arithmetic. It is the reference for gradients of heatmap losses.

Both compute, for every class ``k``, the relevance at the input when the output relevance is
``one_hot(k) * logits``, summed over input channels: ``(B, K, H, W)``, as the library's ``heatmaps``.
The two agree to float64 rounding (tests/lrp/test_composites.py checks it), which tests each of them.

Where the library deliberately departs from plain zennit, the zennit side is canonized to match, with zennit's
public machinery (:class:`InvertedResidualCanonizer`, :class:`MobileNetV2PoolCanonizer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock, Bottleneck
from zennit.canonizers import AttributeCanonizer, Canonizer, SequentialMergeBatchNorm
from zennit.layer import Sum

from unrolled_lrp.data.transforms import input_range

PRESETS = ["zero", "epsilon", "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box", "epsilon_alpha2_beta1_flat"]
RULES = ["zero", "epsilon", "norm", "gamma", "zplus", "alpha_beta", "flat", "wsquare", "zbox"]


def relative_error(a: Tensor, b: Tensor) -> float:
    """Largest absolute difference, relative to the reference's largest magnitude."""
    return ((a - b).abs().max() / b.abs().max()).item()


def imagenet_input(*shape: int, seed: int = 0) -> Tensor:
    """A random image ``(B, 3, H, W)`` in [0, 1], normalised as ImageNet's: inside zB's box ``input_range()``."""
    low, high = (torch.tensor(b, dtype=torch.float64)[:, None, None] for b in input_range())
    u = torch.rand(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return low + u * (high - low)


# ---------------------------------------------------------------------------------------------------------------
# 1. zennit
# ---------------------------------------------------------------------------------------------------------------


class InvertedResidualCanonizer(AttributeCanonizer):
    """MobileNetV2's residual ``x + conv(x)`` through a zennit ``Sum`` module, so that a composite's Norm rule
    applies to it, exactly as ``zennit.torchvision.ResNetBasicBlockCanonizer`` does for ResNets.

    Plain zennit leaves the addition a gradient, which copies the sum's relevance into both branches (doubling
    it); the library applies the LRP sum rule, ``R_i = x_i R / (x_1 + x_2)``.
    """

    def __init__(self) -> None:
        super().__init__(self._attribute_map)

    @classmethod
    def _attribute_map(cls, name: str, module: nn.Module) -> dict | None:
        if isinstance(module, InvertedResidual) and module.use_res_connect:
            return {"forward": cls.forward.__get__(module), "canonizer_sum": Sum()}
        return None

    @staticmethod
    def forward(self, x: Tensor) -> Tensor:
        """InvertedResidual.forward with the sum as a module."""
        return self.canonizer_sum(torch.stack([x, self.conv(x)], dim=-1))


class MobileNetV2PoolCanonizer(AttributeCanonizer):
    """MobileNetV2's functional ``adaptive_avg_pool2d(x, (1, 1))`` as an ``nn.AdaptiveAvgPool2d`` module, so that
    a composite's Norm rule applies to it (as to ResNet's and VGG's pooling modules)."""

    def __init__(self) -> None:
        super().__init__(self._attribute_map)

    @classmethod
    def _attribute_map(cls, name: str, module: nn.Module) -> dict | None:
        if isinstance(module, torchvision.models.MobileNetV2):
            return {"forward": cls.forward.__get__(module), "canonizer_pool": nn.AdaptiveAvgPool2d((1, 1))}
        return None

    @staticmethod
    def forward(self, x: Tensor) -> Tensor:
        """MobileNetV2.forward with the pooling as a module."""
        return self.classifier(torch.flatten(self.canonizer_pool(self.features(x)), 1))


def zennit_canonizers(model: nn.Module) -> list[Canonizer]:
    """The canonizers that bring ``model`` into the form the library explains (BatchNorm merged, sums and pools
    as modules)."""
    from zennit.torchvision import ResNetCanonizer, VGGCanonizer

    if isinstance(model, torchvision.models.ResNet):
        return [ResNetCanonizer()]
    if isinstance(model, torchvision.models.VGG):
        return [VGGCanonizer()]
    if isinstance(model, torchvision.models.MobileNetV2):
        return [SequentialMergeBatchNorm(), InvertedResidualCanonizer(), MobileNetV2PoolCanonizer()]
    return [SequentialMergeBatchNorm(), InvertedResidualCanonizer()]  # a Sequential may hold InvertedResiduals


def _lrp0_denominator(z: Tensor) -> Tensor:
    """LRP-0 divides by z itself. Where z is exactly 0 the unit is dead and so is its relevance: 0 / 1 keeps it 0."""
    return torch.where(z == 0, torch.ones_like(z), z)


@dataclass(frozen=True)
class RuleParameters:
    """The rules' parameters, with zennit's defaults (and the library's LRPConfig's)."""

    epsilon: float = 1e-6
    gamma: float = 0.25
    alpha: float = 2.0
    beta: float = 1.0
    stabilizer: float = 1e-6
    low: float | list[float] | None = None
    high: float | list[float] | None = None


def zennit_rule(name: str, params: RuleParameters, x: Tensor):
    """zennit's hook for the rule ``name``; ``x`` gives zB's bounds their shape (zennit needs the input's)."""
    from zennit import rules

    s = params.stabilizer
    makers: dict[str, Callable] = {
        "zero": lambda: rules.Epsilon(epsilon=_lrp0_denominator),
        "epsilon": lambda: rules.Epsilon(epsilon=params.epsilon),
        "norm": lambda: rules.Norm(stabilizer=s),
        "gamma": lambda: rules.Gamma(gamma=params.gamma, stabilizer=s),
        "zplus": lambda: rules.ZPlus(stabilizer=s),
        "alpha_beta": lambda: rules.AlphaBeta(alpha=params.alpha, beta=params.beta, stabilizer=s),
        "flat": lambda: rules.Flat(stabilizer=s),
        "wsquare": lambda: rules.WSquare(stabilizer=s),
        "zbox": lambda: rules.ZBox(*_box(params, x), stabilizer=s),
    }
    return makers[name]()


def _box(params: RuleParameters, x: Tensor) -> tuple[Tensor, Tensor]:
    """zB's bounds as tensors of the input's shape (a scalar, or one value per input channel)."""
    if params.low is None or params.high is None:
        raise ValueError("zbox needs RuleParameters(low=..., high=...)")
    return tuple(torch.as_tensor(b, dtype=x.dtype).reshape(1, -1, 1, 1).expand_as(x) for b in (params.low, params.high))


def zennit_composite(model: nn.Module, composite: str, params: RuleParameters, x: Tensor, layer_rules=None):
    """zennit's composite named ``composite`` with ``model``'s canonizers; ``layer_rules`` (module name -> rule
    name, names as in the canonized model) take precedence, as a ``NameMapComposite`` ahead of it."""
    from zennit import composites
    from zennit.rules import Epsilon, Pass
    from zennit.types import Activation, AvgPool, BatchNorm, Linear

    canonizers = zennit_canonizers(model)
    kwargs = {"epsilon": params.epsilon, "stabilizer": params.stabilizer, "canonizers": canonizers}
    if composite == "zero":  # LRP-0 everywhere; activations keep their gradient (the library's relu6 "gradient")
        preset = composites.LayerMapComposite(
            [(BatchNorm, Pass()), ((Linear, AvgPool, Sum), Epsilon(epsilon=_lrp0_denominator))], canonizers
        )
    elif composite == "epsilon":  # LRP-epsilon everywhere, sums and pools included; activations pass relevance
        layer_map = [(Activation, Pass()), (BatchNorm, Pass()), ((Linear, AvgPool, Sum), Epsilon(params.epsilon))]
        preset = composites.LayerMapComposite(layer_map, canonizers)
    elif composite == "epsilon_gamma_box":
        low, high = _box(params, x)
        preset = composites.EpsilonGammaBox(low=low, high=high, gamma=params.gamma, **kwargs)
    else:
        preset = {
            "epsilon_plus": composites.EpsilonPlus,
            "epsilon_plus_flat": composites.EpsilonPlusFlat,
            "epsilon_alpha2_beta1_flat": composites.EpsilonAlpha2Beta1Flat,
        }[composite](**kwargs)
    if not layer_rules:
        return preset
    name_map = [((name,), zennit_rule(rule, params, x)) for name, rule in layer_rules.items()]
    return composites.MixedComposite([composites.NameMapComposite(name_map), preset])


def zennit_composite_heatmaps(
    model: nn.Module,
    x: Tensor,
    composite: str,
    classes: list[int] | None = None,
    layer_rules: dict[str, str] | None = None,
    **params,
) -> Tensor:
    """Heatmaps ``(B, K, H, W)`` of zennit's composite, one class at a time (output relevance
    ``one_hot(k) * logits``), with the canonizers of :func:`zennit_canonizers`.

    zennit's BatchNorm merge leaves each BatchNorm as ``x / sqrt(1 + eps)`` instead of the identity, which
    changes the function: call this on models whose BatchNorms have ``eps = 0``.
    """
    from zennit.attribution import Gradient

    assert all(m.eps == 0 for m in model.modules() if isinstance(m, nn.BatchNorm2d)), "set BatchNorm eps to 0"
    classes = range(model(x).shape[1]) if classes is None else classes
    composite_ = zennit_composite(model, composite, RuleParameters(**params), x, layer_rules)
    maps = []
    with Gradient(model=model, composite=composite_) as attributor:
        for k in classes:
            _, relevance = attributor(x.clone(), partial(_class_relevance, k=k))
            maps.append(relevance.sum(1))
    return torch.stack(maps, 1)


def _class_relevance(logits: Tensor, k: int) -> Tensor:
    return F.one_hot(torch.full_like(logits[:, 0], k, dtype=torch.long), logits.shape[1]) * logits


# ---------------------------------------------------------------------------------------------------------------
# 2. The naive, differentiable reference, in relevance form
# ---------------------------------------------------------------------------------------------------------------

#: relevance at a layer's output -> relevance at its input
Propagate = Callable[[Tensor], Tensor]
#: ``affine(input, weight, bias)``: a convolution or dense layer with the given parameters (bias may be None)
Affine = Callable[[Tensor, Tensor, Tensor | None], Tensor]


def _stabilise(z: Tensor, epsilon: float) -> Tensor:
    """``z + epsilon * sign(z)``, with the sign of 0 taken as +1 (zennit's and the LRP papers' convention)."""
    return z + epsilon * torch.where(z >= 0, 1.0, -1.0).to(z)


def _transpose(affine: Affine, weight: Tensor, s: Tensor, like: Tensor) -> Tensor:
    """``W^T s``: the transposed linear map of ``affine`` with ``weight``, by autograd of the (linear) map at a
    dummy input; the graph is kept, so the result stays differentiable in ``weight`` and ``s``."""
    u = torch.zeros_like(like, requires_grad=True)
    (g,) = torch.autograd.grad(affine(u, weight, None), u, s, create_graph=True)
    return g


def _positive(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.clamp(min=0)


def _negative(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.clamp(max=0)


@dataclass
class NaiveRules:
    """Which rule each layer gets (a composite's assignment, restated from zennit's documentation) and the rules'
    parameters, as relevance-form functions ``rule(x, R, affine, W, b) -> R_in``."""

    composite: str
    params: RuleParameters
    layer_rules: dict[str, str] = field(default_factory=dict)
    first_seen: bool = False

    #: composite -> (convolutions, dense layers, first layer or None, sums and average pools, ReLU6)
    TABLE = {
        "zero": ("zero", "zero", None, "zero", "gradient"),
        "epsilon": ("epsilon", "epsilon", None, "epsilon", "pass"),
        "epsilon_plus": ("zplus", "epsilon", None, "norm", "pass"),
        "epsilon_plus_flat": ("zplus", "epsilon", "flat", "norm", "pass"),
        "epsilon_gamma_box": ("gamma", "epsilon", "zbox", "norm", "pass"),
        "epsilon_alpha2_beta1_flat": ("alpha_beta", "epsilon", "flat", "norm", "pass"),
    }

    def affine_rule(self, module: nn.Module, name: str) -> str:
        """The rule of a convolution or dense layer: by name, else the first layer's (zB: the first convolution;
        flat: the first convolution or dense layer), else by type."""
        conv, dense, first, _, _ = self.TABLE[self.composite]
        is_first_kind = isinstance(module, nn.Conv2d) or (first == "flat" and isinstance(module, nn.Linear))
        rule = conv if isinstance(module, nn.Conv2d) else dense
        if first is not None and not self.first_seen and is_first_kind:
            self.first_seen, rule = True, first
        return self.layer_rules.get(name, rule)

    def norm_rule(self, name: str) -> str:
        return self.layer_rules.get(name, self.TABLE[self.composite][3])

    @property
    def relu6(self) -> str:
        return self.TABLE[self.composite][4]

    def denominator(self, rule: str) -> Callable[[Tensor], Tensor]:
        if rule == "zero":
            return _lrp0_denominator
        return partial(_stabilise, epsilon=self.params.epsilon if rule == "epsilon" else self.params.stabilizer)

    def rule(self, name: str) -> Callable[..., Tensor]:
        """The rule ``name`` as ``rule(x, R, affine, W, b) -> R_in``, from a layer's input x, its output relevance
        R and its affine map (weight W, bias b)."""
        return partial(self.proportional, name) if name in ("zero", "epsilon", "norm") else getattr(self, name)

    def proportional(self, name: str, x: Tensor, R: Tensor, affine: Affine, W: Tensor, b: Tensor | None) -> Tensor:
        """LRP-0, LRP-epsilon and zennit's Norm: ``R_i = x_i sum_j w_ij R_j / d(z_j)`` with d(z) = z for LRP-0,
        ``z + eps sign z`` for epsilon (Norm: eps = the stabiliser)."""
        return x * _transpose(affine, W, R / self.denominator(name)(affine(x, W, b)), x)

    def gamma(self, x: Tensor, R: Tensor, affine: Affine, W: Tensor, b: Tensor | None) -> Tensor:
        """Generalised gamma (Andeol et al. 2021, zennit's): an output with z_j > 0 is explained by its positive
        contributions with weights ``W + gamma W+`` on positive inputs and ``W + gamma W-`` on negative ones (bias
        ``b + gamma b+``); an output with z_j < 0 by the mirror image; z_j = 0 passes nothing."""
        g, stab = self.params.gamma, self.denominator("gamma")
        xp, xn = _positive(x), _negative(x)
        up, un = W + g * _positive(W), W + g * _negative(W)
        bp = None if b is None else b + g * _positive(b)
        bn = None if b is None else b + g * _negative(b)
        z = affine(x, W, b)
        sp = R * (z > 0) / stab(affine(xp, up, bp) + affine(xn, un, None))
        sn = R * (z < 0) / stab(affine(xp, un, bn) + affine(xn, up, None))
        return xp * (_transpose(affine, up, sp, x) + _transpose(affine, un, sn, x)) + xn * (
            _transpose(affine, un, sp, x) + _transpose(affine, up, sn, x)
        )

    def _positive_part(self, x: Tensor, R: Tensor, affine: Affine, W: Tensor, b: Tensor | None) -> Tensor:
        """z+: the positive contributions ``w_ij+ x_i+ + w_ij- x_i-`` (and b+) explain all of R_j."""
        xp, xn, Wp, Wn = _positive(x), _negative(x), _positive(W), _negative(W)
        s = R / self.denominator("zplus")(affine(xp, Wp, _positive(b)) + affine(xn, Wn, None))
        return xp * _transpose(affine, Wp, s, x) + xn * _transpose(affine, Wn, s, x)

    def _negative_part(self, x: Tensor, R: Tensor, affine: Affine, W: Tensor, b: Tensor | None) -> Tensor:
        """The mirror of z+: the negative contributions ``w_ij- x_i+ + w_ij+ x_i-`` (and b-) explain all of R_j."""
        xp, xn, Wp, Wn = _positive(x), _negative(x), _positive(W), _negative(W)
        s = R / self.denominator("alpha_beta")(affine(xp, Wn, _negative(b)) + affine(xn, Wp, None))
        return xp * _transpose(affine, Wn, s, x) + xn * _transpose(affine, Wp, s, x)

    zplus = _positive_part

    def alpha_beta(self, x: Tensor, R: Tensor, affine: Affine, W: Tensor, b: Tensor | None) -> Tensor:
        """``alpha * (z+ rule) - beta * (its negative mirror)``."""
        positive = self._positive_part(x, R, affine, W, b)
        return self.params.alpha * positive - self.params.beta * self._negative_part(x, R, affine, W, b)

    def flat(self, x: Tensor, R: Tensor, affine: Affine, W: Tensor, b: Tensor | None) -> Tensor:
        """Flat: R_j spread evenly over the inputs in its receptive field (unit weights and inputs, no bias)."""
        ones, unit = torch.ones_like(x), torch.ones_like(W)
        return _transpose(affine, unit, R / self.denominator("flat")(affine(ones, unit, None)), x)

    def wsquare(self, x: Tensor, R: Tensor, affine: Affine, W: Tensor, b: Tensor | None) -> Tensor:
        """w²: R_j spread in proportion to w_ij². zennit squares every parameter, the bias too: the denominator
        is ``sum_i w_ij² + b_j²``."""
        ones, square = torch.ones_like(x), W.square()
        z = affine(ones, square, None if b is None else b.square())
        return _transpose(affine, square, R / self.denominator("wsquare")(z), x)

    def zbox(self, x: Tensor, R: Tensor, affine: Affine, W: Tensor, b: Tensor | None) -> Tensor:
        """zB: ``R_i = sum_j (x_i w_ij - l_i w_ij+ - h_i w_ij-) R_j / z_j`` with z_j the sum of the numerators over
        i (the bias cancels: zennit's ``(Wx + b) - (W+ l + b+) - (W- h + b-)``)."""
        low, high = _box(self.params, x)
        Wp, Wn = _positive(W), _negative(W)
        s = R / self.denominator("zbox")(affine(x, W, None) - affine(low, Wp, None) - affine(high, Wn, None))
        return (
            x * _transpose(affine, W, s, x) - low * _transpose(affine, Wp, s, x) - high * _transpose(affine, Wn, s, x)
        )


def _merged(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[Tensor, Tensor | None]:
    """Convolution weight and bias with the (eval-mode) BatchNorm after it folded in, differentiably."""
    if bn is None:
        return conv.weight, conv.bias
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = -bn.running_mean if conv.bias is None else conv.bias - bn.running_mean
    return conv.weight * scale[:, None, None, None], bias * scale + bn.bias


def _conv_affine(conv: nn.Conv2d) -> Affine:
    return partial(F.conv2d, stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups)


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """A classifier's layers in the order of its ``forward``, the functional steps as modules."""
    if isinstance(model, torchvision.models.ResNet):
        children = dict(model.named_children())
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool"]
        return [(n, children[n]) for n in names] + [("flatten", nn.Flatten()), ("fc", model.fc)]
    if isinstance(model, torchvision.models.VGG):
        return [("features", model.features), ("avgpool", model.avgpool), ("flatten", nn.Flatten())] + [
            ("classifier", model.classifier)
        ]
    if isinstance(model, torchvision.models.MobileNetV2):
        pool = ("adaptive_avg_pool2d", nn.AdaptiveAvgPool2d((1, 1)))
        return [("features", model.features), pool, ("flatten", nn.Flatten()), ("classifier", model.classifier)]
    assert type(model) is nn.Sequential, f"no naive reference for {type(model).__name__}"
    return list(model.named_children())


class NaiveLRP:
    """A classifier's forward pass, layer by layer, each layer returning its output and its relevance step."""

    def __init__(self, rules: NaiveRules) -> None:
        self.rules = rules

    def sequence(self, layers: list[tuple[str, nn.Module]], x: Tensor, prefix: str = "") -> tuple[Tensor, Propagate]:
        steps: list[Propagate] = []
        queue = list(layers)
        while queue:
            name, module = queue.pop(0)
            name = f"{prefix}.{name}" if prefix else name
            bn = queue.pop(0)[1] if isinstance(module, nn.Conv2d) and queue and _is_bn(queue[0][1]) else None
            x, step = self.layer(module, name, x, bn)
            steps.append(step)

        def propagate(R: Tensor) -> Tensor:
            for step in reversed(steps):
                R = step(R)
            return R

        return x, propagate

    def layer(self, module: nn.Module, name: str, x: Tensor, bn: nn.BatchNorm2d | None) -> tuple[Tensor, Propagate]:
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return self.affine(module, name, x, bn)
        if isinstance(module, (BasicBlock, Bottleneck)):
            return self.resnet_block(module, name, x)
        if isinstance(module, InvertedResidual):
            main, propagate = self.sequence(list(module.conv.named_children()), x, f"{name}.conv")
            return self.residual(name, x, main, propagate) if module.use_res_connect else (main, propagate)
        if type(module) in (nn.Sequential, torchvision.ops.Conv2dNormActivation):
            return self.sequence(list(module.named_children()), x, name)
        if isinstance(module, nn.AdaptiveAvgPool2d):
            rule = self.rules.rule(self.rules.norm_rule(name))
            pool = partial(_pool, size=module.output_size)
            return pool(x, None, None), lambda R: rule(x, R, pool, torch.empty(0), None)
        if isinstance(module, nn.MaxPool2d):  # the gradient: each output's relevance to its maximum
            return module(x), _gradient_of(module, x)
        if isinstance(module, (nn.ReLU, nn.ReLU6)):
            return self.activation(module, x)
        if isinstance(module, nn.Flatten):
            return torch.flatten(x, 1), lambda R: R.reshape(x.shape)
        if isinstance(module, nn.Dropout):  # eval mode: the identity
            return x, lambda R: R
        raise TypeError(f"no naive reference for {name}: {type(module).__name__}")

    def affine(self, module: nn.Module, name: str, x: Tensor, bn: nn.BatchNorm2d | None) -> tuple[Tensor, Propagate]:
        rule = self.rules.rule(self.rules.affine_rule(module, name))
        if isinstance(module, nn.Conv2d):
            (W, b), affine = _merged(module, bn), _conv_affine(module)
        else:
            (W, b), affine = (module.weight, module.bias), F.linear
        return affine(x, W, b), lambda R: rule(x, R, affine, W, b)

    def activation(self, module: nn.Module, z: Tensor) -> tuple[Tensor, Propagate]:
        """ReLU passes relevance on (it is zero where the unit is off). ReLU6 too (zennit's Pass, the library's
        "ratio"), or under LRP-0 only where 0 < z < 6 (the library's "gradient", zennit's plain gradient)."""
        if isinstance(module, nn.ReLU):
            return F.relu(z), lambda R: R
        if self.rules.relu6 == "pass":
            return F.relu6(z), lambda R: R
        return F.relu6(z), lambda R: R * ((z > 0) & (z < 6))

    def resnet_block(self, block: BasicBlock | Bottleneck, name: str, x: Tensor) -> tuple[Tensor, Propagate]:
        names = ["conv1", "bn1", "relu", "conv2", "bn2"] + (["relu", "conv3", "bn3"] if hasattr(block, "conv3") else [])
        main, propagate = self.sequence([(n, getattr(block, n)) for n in names], x, name)
        if block.downsample is None:
            out, through_sum = self.residual(name, x, main, propagate)
        else:
            shortcut, through_shortcut = self.sequence(list(block.downsample.named_children()), x, f"{name}.downsample")
            out, through_sum = self.sum(name, main, shortcut, propagate, through_shortcut)
        out, through_relu = self.activation(block.relu, out)
        return out, lambda R: through_sum(through_relu(R))

    def residual(self, name: str, x: Tensor, main: Tensor, propagate: Propagate) -> tuple[Tensor, Propagate]:
        """``x + main``, the identity shortcut."""
        return self.sum(name, main, x, propagate, lambda R: R)

    def sum(
        self, name: str, a: Tensor, b: Tensor, through_a: Propagate, through_b: Propagate
    ) -> tuple[Tensor, Propagate]:
        """``a + b``: the sum rule ``R_a = a R / (a + b)``, ``R_b = b R / (a + b)`` (stabilised as the rule says),
        each part then propagated down its own branch and the two added where the branches met."""
        denominator = self.rules.denominator(self.rules.norm_rule(name))

        def propagate(R: Tensor) -> Tensor:
            s = R / denominator(a + b)
            return through_a(a * s) + through_b(b * s)

        return a + b, propagate


def _is_bn(module: nn.Module) -> bool:
    return isinstance(module, nn.BatchNorm2d)


def _pool(x: Tensor, weight: Tensor | None, bias: Tensor | None, size) -> Tensor:
    return F.adaptive_avg_pool2d(x, size)


def _gradient_of(module: nn.Module, x: Tensor) -> Propagate:
    """The plain gradient of a piecewise-linear ``module`` at ``x`` (its switches held): linear in R, in the graph."""
    xd = x.detach().requires_grad_(True)
    out = module(xd)

    def propagate(R: Tensor) -> Tensor:
        (g,) = torch.autograd.grad(out, xd, R, retain_graph=True, create_graph=True)
        return g

    return propagate


def naive_composite_heatmaps(
    model: nn.Module,
    x: Tensor,
    composite: str,
    classes: list[int] | None = None,
    layer_rules: dict[str, str] | None = None,
    **params,
) -> tuple[Tensor, Tensor]:
    """Logits and heatmaps ``(B, K, H, W)`` of ``composite`` on an eval-mode torchvision ResNet, VGG, MobileNetV2
    or plain Sequential, by :class:`NaiveLRP`: differentiable with respect to ``model``'s parameters.

    ``layer_rules`` (module name -> rule) take precedence over the composite's choice (for a residual sum the
    name is its block's, for MobileNetV2's functional pooling "adaptive_avg_pool2d").
    """
    rules = NaiveRules(composite, RuleParameters(**params), dict(layer_rules or {}))
    logits, propagate = NaiveLRP(rules).sequence(_layers(model), x)
    classes = range(logits.shape[1]) if classes is None else classes
    return logits, torch.stack([propagate(_class_relevance(logits, k)).sum(1) for k in classes], 1)


def modules_of(model: nn.Module, kind: type[nn.Module]) -> Iterator[str]:
    """Names of ``model``'s modules of type ``kind``, in order."""
    return (name for name, m in model.named_modules() if isinstance(m, kind))
