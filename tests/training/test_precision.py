"""bf16 autocast and channels-last training (checked on CPU, where both work as on GPU)."""

import csv
import math

import pytest
import torch

from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.models import build_classifier, build_model
from unrolled_lrp.training.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def data(tiny_voc):
    config = DataConfig(root=tiny_voc, classes=tiny_voc / "classes.yaml", num_pixel=6, batch_size=4, crop_size=32)
    return build_training_data(config), list(config.class_set().names)


def _losses(data, run_dir, name, steps, **options):
    training_data, names = data
    torch.manual_seed(0)
    model = build_model(name, build_classifier("resnet18", len(names)), len(names))
    train(model, training_data, TrainConfig(steps=steps, lr=1e-3, eval_every=steps, log_every=1, **options),
          run_dir, names)
    return [float(row[1]) for row in csv.reader((run_dir / "log.csv").open())]


@pytest.mark.parametrize("name", ["unrolled_lrp", "unet"])
def test_bf16_training_gives_finite_losses(data, tmp_path, name):
    losses = _losses(data, tmp_path, name, steps=2, precision="bf16")
    assert len(losses) == 2 and all(math.isfinite(loss) and loss > 0 for loss in losses)
    assert (tmp_path / "best.pt").exists()


def test_channels_last_gives_the_same_first_loss(data, tmp_path):
    contiguous = _losses(data, tmp_path / "contiguous", "unrolled_lrp", steps=1)
    channels_last = _losses(data, tmp_path / "channels_last", "unrolled_lrp", steps=1, channels_last=True)
    assert channels_last == pytest.approx(contiguous, rel=1e-4)


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match=r"precision must be one of \['fp32', 'bf16'\], got 'fp8'"):
        TrainConfig(precision="fp8")
