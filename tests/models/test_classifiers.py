"""build_classifier: heads, ImageNet weights from the hub cache only, checkpoints, registry."""

from pathlib import Path

import pytest
import torch
from torch import nn

from unrolled_lrp.models import build_classifier, build_model, final_linear, list_models, register_model


@pytest.mark.parametrize("arch", ["resnet18", "vgg11_bn"])
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


def test_cached_imagenet_weights_are_loaded_and_head_replaced(monkeypatch, tmp_path):
    checkpoints = _empty_hub(monkeypatch, tmp_path)
    checkpoints.mkdir()
    imagenet = build_classifier("resnet18", num_classes=1000)
    torch.save(imagenet.state_dict(), checkpoints / "resnet18-f37072fd.pth")

    model = build_classifier("resnet18", num_classes=5, weights="DEFAULT")
    assert torch.equal(model.conv1.weight, imagenet.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, imagenet.layer4[1].bn2.running_var)
    assert model.fc.out_features == 5


def test_unknown_weights_name_lists_the_choices():
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        build_classifier("resnet18", num_classes=5, weights="coco")


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
    assert type(build_model("fcn", build_classifier("resnet18", 3), 3)).__name__ == "FCN"
    with pytest.raises(KeyError, match="unknown segmentation model 'segformer'.*'fcn'"):
        build_model("segformer", nn.Identity(), 3)
    with pytest.raises(ValueError, match="already registered"):
        register_model("unet")(lambda classifier, num_classes: None)
