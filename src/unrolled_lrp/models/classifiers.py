"""Build the torchvision image classifiers every segmentation model starts from.

Supported: the torchvision ResNet family (resnet18/34/50/101/152, resnext*, wide_resnet*)
and VGG (vgg11/13/16/19 with and without _bn) — the ReLU CNNs the LRP core can unroll.
Weights come from one of two places, never the network at run time:

* ``weights="imagenet"`` (or "DEFAULT", or a torchvision enum name like "IMAGENET1K_V1"):
  torchvision's ImageNet weights, read from the local torch hub cache;
* ``checkpoint``: a state dict saved by our classifier pre-training.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import VGG, ResNet, WeightsEnum

#: Name prefixes of the torchvision architectures the encoders and the LRP core support.
SUPPORTED_PREFIXES = ("resnet", "resnext", "wide_resnet", "vgg")


def supported_architectures() -> list[str]:
    """torchvision classifier names accepted by :func:`build_classifier`."""
    names = torchvision.models.list_models(module=torchvision.models)
    return sorted(name for name in names if name.startswith(SUPPORTED_PREFIXES))


def build_classifier(
    arch: str,
    num_classes: int,
    weights: str | None = None,
    checkpoint: Path | str | None = None,
) -> nn.Module:
    """A torchvision ResNet/VGG classifier with ``num_classes`` outputs.

    Args:
        arch: torchvision model name, e.g. "resnet50" or "vgg16_bn".
        num_classes: outputs of the final linear layer (the ImageNet head is replaced).
        weights: None (random init), "imagenet"/"DEFAULT" (torchvision's default ImageNet
            weights) or a weights enum name such as "IMAGENET1K_V1". Loaded from the torch hub
            cache only; a missing file raises FileNotFoundError saying where to put it.
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
        model.load_state_dict(_cached_state_dict(_weights_enum(arch, weights)))
    _replace_head(model, num_classes)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


def final_linear(classifier: nn.Module) -> nn.Linear:
    """The classifier's output layer (``fc`` for ResNets, ``classifier[-1]`` for VGGs)."""
    if isinstance(classifier, ResNet):
        return classifier.fc
    if isinstance(classifier, VGG):
        return classifier.classifier[-1]
    raise TypeError(f"expected a torchvision ResNet or VGG classifier, got {type(classifier).__name__}")


def _replace_head(classifier: nn.Module, num_classes: int) -> None:
    """Swap the output layer for a freshly initialised one with ``num_classes`` outputs."""
    head = nn.Linear(final_linear(classifier).in_features, num_classes)
    if isinstance(classifier, ResNet):
        classifier.fc = head
    else:
        classifier.classifier[-1] = head


def _weights_enum(arch: str, weights: str) -> WeightsEnum:
    enum = torchvision.models.get_model_weights(arch)
    name = "DEFAULT" if weights.lower() == "imagenet" else weights
    try:
        return enum[name]
    except KeyError:
        raise ValueError(
            f"unknown weights {weights!r} for {arch}; use 'imagenet', 'DEFAULT' or one of {[w.name for w in enum]}"
        ) from None


def _cached_state_dict(weights: WeightsEnum) -> dict[str, torch.Tensor]:
    """Load torchvision weights from the hub cache, refusing to download (no internet at run time)."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights {weights} are not in the local torch hub cache: expected {path}. "
            f"Download {weights.url} on a machine with internet access and copy it there "
            "(or set TORCH_HOME to a directory whose hub/checkpoints/ holds it)."
        )
    return torch.load(path, map_location="cpu", weights_only=True)


#: Key prefix of the classifier inside an unrolled segmentation model's state dict.
UNROLLED_PREFIX = "unrolled.classifier."


def load_checkpoint(classifier: nn.Module, checkpoint: Path | str) -> None:
    """Load a pre-training state dict into ``classifier``, naming any mismatching keys.

    Accepts a raw state dict or a dict holding it under "model", including the checkpoints of trained
    ``unrolled_lrp``/``ws_ae`` runs (whose only parameters are the classifier's). Every key must match in
    name and shape; a partial load would silently leave layers randomly initialised.
    """
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:  # torch's ways to refuse a foreign file
        raise ValueError(
            f"checkpoint {checkpoint} cannot be read ({type(error).__name__}); it may be truncated or not a checkpoint"
        ) from None
    if isinstance(state, dict) and "model" in state:
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(
            f"{checkpoint}: expected a state dict (or a dict with key 'model'), got {type(state).__name__}"
        )
    if state and all(key.startswith(UNROLLED_PREFIX) for key in state):
        state = {key.removeprefix(UNROLLED_PREFIX): value for key, value in state.items()}
    expected = classifier.state_dict()
    problems = {
        "missing": sorted(expected.keys() - state.keys()),
        "unexpected": sorted(state.keys() - expected.keys()),
        "shape mismatch": [
            f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
            for key in sorted(expected.keys() & state.keys())
            if state[key].shape != expected[key].shape
        ],
    }
    if any(problems.values()):
        details = "; ".join(f"{kind} keys ({len(keys)}): {_preview(keys)}" for kind, keys in problems.items() if keys)
        raise ValueError(
            f"checkpoint {checkpoint} does not fit {type(classifier).__name__} "
            f"(was it saved for another arch or number of classes?): {details}"
        )
    classifier.load_state_dict(state)


def _preview(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, … (+{len(items) - limit} more)"
