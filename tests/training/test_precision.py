"""bf16 autocast and channels-last training (checked on CPU, where both work as on GPU)."""

import csv
import math

import pytest
import torch
import torchvision

from unrolled_lrp import unroll
from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.models import build_classifier, build_model
from unrolled_lrp.runs import RunDir
from unrolled_lrp.training.precision import autocast
from unrolled_lrp.training.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def data(tiny_voc):
    config = DataConfig(root=tiny_voc, classes=tiny_voc / "classes.yaml", num_pixel=6, batch_size=4, crop_size=32)
    return build_training_data(config), list(config.class_set().names)


def _losses(data, run_dir, name, steps, **options):
    training_data, names = data
    torch.manual_seed(0)
    model = build_model(name, build_classifier("resnet18", len(names)), len(names))
    train(
        model,
        data=training_data,
        optim=TrainConfig(steps=steps, lr=1e-3, eval_every=steps, log_every=1, **options),
        run=RunDir(run_dir),
        class_names=names,
    )
    return [float(row[1]) for row in csv.reader((run_dir / "log.csv").open())]


@pytest.mark.parametrize("name", ["unrolled_lrp", "unet"])
def test_bf16_training_gives_finite_losses(data, tmp_path, name):
    losses = _losses(data, tmp_path, name, steps=2, precision="bf16")
    assert len(losses) == 2 and all(math.isfinite(loss) and loss > 0 for loss in losses)
    assert (tmp_path / "best.pt").exists()


def test_bf16_heatmaps_follow_fp32_but_are_not_exact():
    """bf16 rounds the pre-activations whose signs are the tied gates and the mixed-sign sums of the decoder:
    on a random resnet18 the heatmaps correlate 0.98 with fp32 and 91% of pixels keep their argmax class
    (measured; a trained demo classifier: 0.994 and 97%). Close, as the README says, not equal."""
    torch.manual_seed(0)
    model = unroll(torchvision.models.resnet18(num_classes=3)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fp32 = model(x).heatmaps
        with autocast(torch.device("cpu"), "bf16"):
            bf16 = model(x).heatmaps.float()
    assert torch.corrcoef(torch.stack([bf16.flatten(), fp32.flatten()]))[0, 1] > 0.95
    assert (bf16.argmax(1) == fp32.argmax(1)).float().mean() > 0.85
    assert not torch.equal(bf16, fp32)  # autocast really ran in bf16


def test_channels_last_gives_the_same_first_loss(data, tmp_path):
    contiguous = _losses(data, tmp_path / "contiguous", "unrolled_lrp", steps=1)
    channels_last = _losses(data, tmp_path / "channels_last", "unrolled_lrp", steps=1, channels_last=True)
    assert channels_last == pytest.approx(contiguous, rel=1e-4)


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match=r"precision must be one of \['fp32', 'bf16'\], got 'fp8'"):
        TrainConfig(precision="fp8")
