"""Losses against hand computations; checkpoints atomic and safe to load."""

import math

import pytest
import torch

from unrolled_lrp.models import SegmentationOutput
from unrolled_lrp.training import classification_loss, combined_loss, load, save_atomic, segmentation_loss


def test_segmentation_loss_ignores_void_pixels():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 5.0]]]])  # (1, 2 classes, 1, 2)
    masks = torch.tensor([[[0, 255]]])
    assert segmentation_loss(logits, masks).item() == pytest.approx(math.log(1 + math.exp(-2.0)))


def test_classification_loss_gives_background_weight_zero():
    logits = torch.tensor([[10.0, 0.0, 0.0]])
    labels = torch.tensor([[0.0, 1.0, 0.0]])  # a wrong background score must cost nothing
    expected = (math.log(2) + math.log(2) + 0.0) / 3  # mean over all entries, background weighted 0
    assert classification_loss(logits, labels).item() == pytest.approx(expected)


def test_without_a_background_class_every_class_is_trained():
    logits = torch.tensor([[10.0, 0.0, 0.0]])
    labels = torch.tensor([[0.0, 1.0, 0.0]])  # class 0 (e.g. sky) is an image label like any other
    expected = (10.0 + math.log1p(math.exp(-10.0)) + 2 * math.log(2)) / 3
    assert classification_loss(logits, labels, has_background=False).item() == pytest.approx(expected)


def test_combined_loss_uses_what_the_model_outputs():
    seg, cls = torch.zeros(1, 3, 2, 2), torch.zeros(2, 3)
    masks, labels = torch.zeros(1, 2, 2, dtype=torch.long), torch.ones(2, 3)
    total, parts = combined_loss(SegmentationOutput(seg, cls), masks, labels, seg_weight=2.0)
    assert set(parts) == {"seg_loss", "cls_loss"}
    assert total.item() == pytest.approx(2 * math.log(3) + 2 / 3 * math.log(2))
    total, parts = combined_loss(SegmentationOutput(None, cls), masks, labels)
    assert set(parts) == {"cls_loss"}


def test_checkpoints_are_written_atomically_and_loaded_weights_only(tmp_path, monkeypatch):
    path = save_atomic({"step": 1, "w": torch.ones(2)}, tmp_path / "last.pt")
    assert load(path)["step"] == 1

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_atomic({"step": 2}, path)
    monkeypatch.undo()
    assert load(path)["step"] == 1  # the previous checkpoint survives, no temp file is left
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]

    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.pt cannot be read"):
        load(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        load(tmp_path / "missing.pt")
