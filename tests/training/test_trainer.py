"""End-to-end training on a tiny synthetic VOC: learning happens and resuming is exact."""

import copy

import pytest
import torch

from unrolled_lrp.data.datasets import collate
from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.data.synth import SynthConfig, write_synthetic_voc
from unrolled_lrp.models import build_classifier, build_model
from unrolled_lrp.runs import RunDir
from unrolled_lrp.training.trainer import TrainConfig, _loss, train

NAMES = ["background", "aeroplane", "bicycle", "bird"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    write_synthetic_voc(
        root, SynthConfig(num_pixel_train=12, num_val=4, num_image_level=12, image_size=64, seed=0, classes=list(NAMES))
    )
    classes = root / "classes.yaml"
    classes.write_text(f"classes: [{', '.join(NAMES)}]\n")
    return build_training_data(DataConfig(root=root, classes=classes, num_pixel=8, batch_size=4, crop_size=64, seed=0))


def _run(data, run_dir, steps, name="unrolled_lrp"):
    torch.manual_seed(0)
    model = build_model(name, build_classifier("resnet18", len(NAMES)), len(NAMES))
    optim = TrainConfig(steps=steps, lr=1e-3, eval_every=3, log_every=1)
    best = train(model, data=data, optim=optim, run=RunDir(run_dir), class_names=NAMES)
    return model, best


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(data, tmp_path):
    straight, _ = _run(data, tmp_path / "straight", steps=6)
    _run(data, tmp_path / "resumed", steps=3)
    resumed, best = _run(data, tmp_path / "resumed", steps=6)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert (tmp_path / "resumed" / "best.pt").exists() and 0 <= best["miou"] <= 1


def _fixed_batch_loss(model, data):
    """The training loss of every model on the same pixel-labelled batch (train-mode BatchNorm, no update)."""
    torch.manual_seed(0)
    batch = collate([data.train[i] for i in data.sampler.batch(0)])
    optim = TrainConfig()
    with torch.no_grad():
        loss, _ = _loss(model, model.uses_image_labels, batch, optim, torch.device("cpu"))
    return loss.item()


@pytest.mark.parametrize("name", ["unrolled_lrp", "ws_ae", "unet", "mt_unet", "fcn"])
def test_every_model_trains_its_loss_decreases_and_is_logged(data, tmp_path, name):
    torch.manual_seed(0)
    model = build_model(name, build_classifier("resnet18", len(NAMES)), len(NAMES))
    before = _fixed_batch_loss(copy.deepcopy(model), data)
    optim = TrainConfig(steps=12, lr=1e-3, eval_every=12, log_every=1)
    train(model, data=data, optim=optim, run=RunDir(tmp_path), class_names=NAMES)
    after = _fixed_batch_loss(model, data)
    assert after < 0.95 * before, (before, after)  # observed: 0.51 (unrolled LRP) to 0.90 (FCN)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 13)) and all(float(r.split(",")[1]) > 0 for r in rows)
