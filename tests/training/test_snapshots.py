"""Training-time snapshots (Figures 2 and 3): contents, exactness, no effect on training, figures."""

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from unrolled_lrp.data.datasets import collate
from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.data.synth import SynthConfig, write_synthetic_voc
from unrolled_lrp.experiments.report import write_report
from unrolled_lrp.models import build_classifier, build_model
from unrolled_lrp.runs import RunDir
from unrolled_lrp.training.pretrain import ImageClassifier
from unrolled_lrp.training.snapshots import list_snapshots, load_snapshot, take_snapshot
from unrolled_lrp.training.trainer import TrainConfig, train

NAMES = ["background", "aeroplane", "bicycle"]
STEPS, EVERY, IMAGES = 4, 2, 2


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("voc")
    write_synthetic_voc(
        root, SynthConfig(num_pixel_train=6, num_val=3, num_image_level=4, image_size=48, seed=0, classes=list(NAMES))
    )
    (root / "classes.yaml").write_text(f"classes: [{', '.join(NAMES)}]\n")
    config = DataConfig(root=root, classes=root / "classes.yaml", num_pixel=4, batch_size=2, crop_size=32, seed=0)
    return config, build_training_data(config)


def _model(name="unrolled_lrp"):
    torch.manual_seed(0)
    return build_model(name, build_classifier("resnet18", len(NAMES)), len(NAMES))


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """A finished unrolled LRP run with snapshots, in the grid layout ``ulrp report`` reads."""
    config, training_data = data
    run_dir = tmp_path_factory.mktemp("grid") / "resnet18" / "n4" / "seed0" / "unrolled_lrp"
    initial, model = _model(), _model()
    optim = TrainConfig(steps=STEPS, lr=1e-3, eval_every=STEPS, snapshot_every=EVERY, snapshot_images=IMAGES)
    best = train(model, data=training_data, optim=optim, run=RunDir(run_dir), class_names=NAMES)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"data": {"classes": str(config.classes)}}))
    (run_dir / "metrics.json").write_text(json.dumps({"model": "unrolled_lrp", "holdout": best}))
    (run_dir / "val_metrics.json").write_text(json.dumps({"miou": 0.5, "f1": 0.5}))
    return run_dir, initial, model


def _argmax(model, sample):
    model.eval()
    with torch.no_grad():
        logits = model(collate([sample], model.stride).image).seg_logits
    return logits[0, :, : sample.image.shape[1], : sample.image.shape[2]].argmax(0)


def test_snapshots_hold_the_models_segmentation_at_their_step(data, run):
    _, training_data = data
    run_dir, initial, trained = run
    assert sorted(list_snapshots(RunDir(run_dir).snapshots)) == [0, 2, 4]
    for step, model in [(0, initial), (STEPS, trained)]:
        snapshot = torch.load(list_snapshots(RunDir(run_dir).snapshots)[step], weights_only=True)
        assert snapshot["step"] == step and len(snapshot["ids"]) == IMAGES
        for i, sample in enumerate(training_data.val.items[:IMAGES]):
            expected = _argmax(model, training_data.val[i])
            assert snapshot["ids"][i] == sample.id
            assert snapshot["segmentations"][i].dtype == torch.uint8
            assert torch.equal(snapshot["segmentations"][i].long(), expected)
            assert torch.equal(snapshot["masks"][i].long(), training_data.val[i].mask)
            assert snapshot["images"][i].dtype == torch.uint8 and snapshot["images"][i].shape == (3, 48, 48)
            scores = snapshot["scores"][i]
            assert scores.dtype == torch.float16 and scores.shape == (len(NAMES), 48, 48)
            assert torch.allclose(scores.float().sum(0), torch.ones(48, 48), atol=1e-2)


def test_snapshots_do_not_change_training(data, run, tmp_path):
    _, training_data = data
    plain = _model()
    train(
        plain,
        data=training_data,
        optim=TrainConfig(steps=STEPS, lr=1e-3, eval_every=STEPS),
        run=RunDir(tmp_path),
        class_names=NAMES,
    )
    for (name, a), b in zip(plain.state_dict().items(), run[2].state_dict().values()):
        assert torch.equal(a, b), name


def test_models_without_heatmaps_or_segmentation(data, tmp_path):
    _, training_data = data
    path = take_snapshot(_model("unet"), training_data.val, 0, tmp_path, num_images=1)
    assert "scores" not in load_snapshot(path) and len(load_snapshot(path)["segmentations"]) == 1
    classifier = ImageClassifier(build_classifier("resnet18", len(NAMES)))
    assert take_snapshot(classifier, training_data.val, 0, tmp_path / "pretrain") is None


def test_report_renders_figures_2_and_3(run):
    run_dir = run[0]
    write_report(run_dir.parents[3])
    for figure in ("figure2", "figure3"):
        path = run_dir.parents[3] / "report" / f"{figure}_unrolled_lrp_resnet18_n4_seed0.png"  # one pair per method
        picture = np.asarray(Image.open(path).convert("L"))
        assert len(np.unique(picture)) > 20
