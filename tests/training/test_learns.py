"""End to end: a classifier pre-trained on image-level labels, unrolled and trained on a few pixel-labelled
images, segments clearly better than the trivial predictors (the method works, not only runs)."""

from dataclasses import replace

import pytest
import torch
from torch.utils.data import DataLoader

from unrolled_lrp.data.datasets import collate
from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.data.synth import SynthConfig, write_synthetic_voc
from unrolled_lrp.evaluation.evaluate import evaluate
from unrolled_lrp.evaluation.metrics import ClassificationF1, SegmentationMetrics
from unrolled_lrp.models import build_classifier, build_model
from unrolled_lrp.runs import RunDir
from unrolled_lrp.training.pretrain import ImageClassifier, pretrain_classifier
from unrolled_lrp.training.trainer import TrainConfig, train

NAMES = ["background", "cat", "dog"]
PRETRAIN_STEPS, STEPS, SEG_LR = 100, 100, 5e-4


def _trivial_baselines(val) -> tuple[float, float]:
    """mIoU of predicting background everywhere, best F1 of predicting every class present or none."""
    background = SegmentationMetrics(len(NAMES), NAMES)
    everything, nothing = ClassificationF1(len(NAMES), NAMES), ClassificationF1(len(NAMES), NAMES)
    for batch in DataLoader(val, batch_size=1, collate_fn=collate):
        background.update(torch.zeros_like(batch.mask), batch.mask)
        everything.update(torch.ones_like(batch.labels), batch.labels)
        nothing.update(-torch.ones_like(batch.labels), batch.labels)
    return background.compute()["miou"], max(everything.compute()["f1"], nothing.compute()["f1"])


@pytest.mark.slow
def test_unrolled_lrp_beats_the_trivial_predictors(tmp_path):
    write_synthetic_voc(
        tmp_path,
        SynthConfig(num_pixel_train=20, num_val=20, num_image_level=60, image_size=32, seed=0, classes=list(NAMES)),
    )
    data = DataConfig(root=tmp_path, classes=tmp_path / "classes.yaml", num_pixel=3, crop_size=32, batch_size=10)
    val = build_training_data(replace(data, num_pixel=None)).val
    background_miou, trivial_f1 = _trivial_baselines(val)
    torch.manual_seed(0)
    classifier = build_classifier("resnet18", len(NAMES))
    pretrain_classifier(
        classifier,
        data=data,
        optim=TrainConfig(steps=PRETRAIN_STEPS, lr=1e-3, eval_every=PRETRAIN_STEPS),
        run=RunDir(tmp_path / "pretrain"),
        class_names=NAMES,
    )
    f1 = evaluate(ImageClassifier(classifier), val, NAMES)["f1"]
    assert f1 > trivial_f1 + 0.05, (f1, trivial_f1)  # 0.93 against 0.80 for "every class present"
    model = build_model("unrolled_lrp", classifier, len(NAMES))
    train(
        model,
        data=build_training_data(data),
        optim=TrainConfig(steps=STEPS, lr=SEG_LR, eval_every=STEPS),
        run=RunDir(tmp_path / "seg"),
        class_names=NAMES,
    )
    miou = evaluate(model, val, NAMES)["miou"]
    # seeds 0 and 1 gave 0.59 and 0.50 against 0.26 for background everywhere; uniform guessing gives about 1/3
    assert miou >= max(1.6 * background_miou, 0.4), (miou, background_miou)
