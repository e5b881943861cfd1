"""Independent references the tests compare the library against (autograd, zennit) and model factories."""

from __future__ import annotations

import copy

import torch
import torchvision
from torch import Tensor, nn


def random_classifier(
    arch: str, num_classes: int = 5, seed: int = 0, dtype=torch.float64, bn_eps: float | None = None
) -> nn.Module:
    """A torchvision classifier with random weights and non-trivial BatchNorm statistics and affine maps.

    ``"resnet10"`` is a ResNet with one block per stage; ``"resnext@tiny"`` the same with grouped Bottleneck blocks;
    ``"vgg@tiny"`` / ``"vgg_bn@tiny"`` a narrow VGG with a small MLP head; ``"mobilenet_v2@0.25"`` a MobileNetV2 of
    that width. Each is torchvision's own class, so the family's adapter serves it.
    """
    torch.manual_seed(seed)
    if arch == "resnet10":  # one block per stage: the smallest torchvision ResNet, for slow references
        model = torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
    elif arch == "resnext@tiny":
        bottleneck = torchvision.models.resnet.Bottleneck
        model = torchvision.models.ResNet(bottleneck, [1, 1, 1, 1], num_classes, groups=4, width_per_group=8)
    elif arch in ("vgg@tiny", "vgg_bn@tiny"):
        model = _tiny_vgg(batch_norm=arch == "vgg_bn@tiny", num_classes=num_classes)
    elif arch.startswith("mobilenet_v2@"):
        model = torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=float(arch.split("@")[1]))
    else:
        model = getattr(torchvision.models, arch)(num_classes=num_classes)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = module.eps if bn_eps is None else bn_eps
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    return model.to(dtype).eval()


def bias_free(model: nn.Module) -> nn.Module:
    """A copy of ``model`` without biases (BatchNorm shifts and running means zeroed): every rule that conserves
    relevance does so exactly, up to its stabiliser."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.zero_()
        if getattr(m, "bias", None) is not None:
            m.bias.data.zero_()
    return model


def _tiny_vgg(batch_norm: bool, num_classes: int) -> nn.Module:
    """torchvision's VGG with five narrow conv blocks and a 32-wide MLP head of the same structure as VGG's."""
    features = torchvision.models.vgg.make_layers([8, "M", 16, "M", 16, 16, "M", 32, "M", 32, "M"], batch_norm)
    model = torchvision.models.VGG(features, num_classes=num_classes)
    model.classifier = nn.Sequential(
        nn.Linear(32 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(),
        nn.Linear(32, num_classes),
    )  # fmt: skip
    return model


def input_x_gradient(
    model: nn.Module, x: Tensor, classes: list[int] | None = None, create_graph: bool = False
) -> Tensor:
    """Heatmaps ``sum_c x * d logit_k / dx`` by autograd: one forward, one backward per class, ``(B, K, H, W)``."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    classes = range(logits.shape[1]) if classes is None else classes
    maps = []
    for k in classes:
        (grad,) = torch.autograd.grad(logits[:, k].sum(), x, retain_graph=True, create_graph=create_graph)
        maps.append((grad * x).sum(1))
    return torch.stack(maps, 1)


class _RatioReLU6(torch.autograd.Function):
    """ReLU6 whose backward multiplies by ``relu6(z) / z`` instead of its derivative (differentiable twice)."""

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        ctx.save_for_backward(z)
        return torch.nn.functional.relu6(z)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (z,) = ctx.saved_tensors
        return grad * torch.where(z > 0, torch.nn.functional.relu6(z) / torch.where(z > 0, z, 1.0), 0.0)


class RatioReLU6(nn.Module):
    def forward(self, z: Tensor) -> Tensor:
        return _RatioReLU6.apply(z)


def with_ratio_relu6(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ReLU6 modules back-propagate ``relu6(z) / z``: its input x gradient is LRP-0
    with the ratio rule on ReLU6.

    Why this is LRP-0: at a linear map ``z = W a_in + b`` LRP-0 sends ``R_in = a_in * W^T (R / z)``. Writing
    the relevance at an activation's output as ``R = a * g``, the message at ``z`` is ``R / z = g * a / z``, so
    LRP-0 is the chain rule with every activation's derivative replaced by ``a / z``: ``H(z)`` for ReLU (hence
    input x gradient), ``relu6(z) / z`` for ReLU6. Linear steps with no activation (BatchNorm, the residual
    sum, pooling, the head) keep their plain derivative, since there ``a / z = 1``. Autograd then runs this
    through torchvision's own ``forward``, independently of the library's units.
    """
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) is nn.ReLU6:
                setattr(module, name, RatioReLU6())
    return model


def recorded(model: nn.Module, x: Tensor, taps: list[tuple[nn.Module, str]]) -> tuple[Tensor, list[Tensor]]:
    """``model(x)`` and, in the order they happen, the input (``"in"``) or output (``"out"``) of each tapped module:
    what the model's own forward passes between its parts."""
    seen: list[Tensor] = []

    def record(module: nn.Module, inputs: tuple, output: Tensor | None = None) -> None:
        seen.append(inputs[0] if output is None else output)

    handles = [
        module.register_forward_pre_hook(record) if side == "in" else module.register_forward_hook(record)
        for module, side in taps
    ]
    with torch.no_grad():
        logits = model(x)
    for handle in handles:
        handle.remove()
    return logits, seen


def relu6_inputs(model: nn.Module, x: Tensor) -> Tensor:
    """All values entering the ReLU6 modules of ``model`` on ``x``, flattened (to check saturation happens)."""
    seen: list[Tensor] = []
    handles = [
        m.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0].detach().flatten().clone()))  # inplace
        for m in model.modules()
        if type(m) is nn.ReLU6
    ]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return torch.cat(seen)


def freeze_batch_statistics(model: nn.Module, x: Tensor) -> nn.Module:
    """A copy of a train-mode ``model`` whose BatchNorms use, as constants, this batch's statistics."""
    stats = {}

    def capture(name):
        def hook(module, inputs, output):
            a = inputs[0].detach()
            stats[name] = (a.mean(dim=(0, 2, 3)), a.var(dim=(0, 2, 3), unbiased=False))

        return hook

    handles = [m.register_forward_hook(capture(n)) for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    frozen = copy.deepcopy(model)
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    for name, module in frozen.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(stats[name][0])
            module.running_var.copy_(stats[name][1])
            module.eval()
    return frozen


def zennit_heatmaps(model: nn.Module, x: Tensor, epsilon: float) -> Tensor:
    """All-class LRP-epsilon heatmaps by zennit (BatchNorm folded by its canonizers), one class at a time.

    zennit's folding leaves each BatchNorm as ``x / sqrt(1 + eps)`` instead of the identity, which
    changes the function; call this on models whose BatchNorms have ``eps = 0``.
    """
    assert all(m.eps == 0 for m in model.modules() if isinstance(m, nn.BatchNorm2d)), "set BatchNorm eps to 0"
    from zennit.attribution import Gradient
    from zennit.composites import LayerMapComposite
    from zennit.rules import Epsilon
    from zennit.torchvision import ResNetCanonizer, Sum, VGGCanonizer
    from zennit.types import AvgPool, Convolution, Linear

    canonizer = ResNetCanonizer() if isinstance(model, torchvision.models.ResNet) else VGGCanonizer()
    layer_map = [(kind, Epsilon(epsilon=epsilon)) for kind in (Convolution, Linear, AvgPool, Sum)]
    composite = LayerMapComposite(layer_map=layer_map, canonizers=[canonizer])
    maps = []
    with Gradient(model=model, composite=composite) as attributor:
        for k in range(model(x).shape[1]):

            def relevance_of_class(logits, k=k):
                return (
                    torch.nn.functional.one_hot(torch.full_like(logits[:, 0], k, dtype=torch.long), logits.shape[1])
                    * logits
                )

            _, relevance = attributor(x, relevance_of_class)
            maps.append(relevance.sum(1))
    return torch.stack(maps, 1)
