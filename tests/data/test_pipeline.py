"""The parallel input pipeline: the same batches whatever the number of worker processes, from any step on."""

from dataclasses import replace

import pytest
import torch

from unrolled_lrp.data import pipeline
from unrolled_lrp.data.pipeline import DataConfig, build_training_data, training_batches


def _batches(root, workers, steps):
    data = build_training_data(
        DataConfig(root=root, classes=root / "classes.yaml", num_pixel=6, batch_size=4, crop_size=32, workers=workers)
    )
    return list(training_batches(data, seed=3, steps=steps))


def test_batches_do_not_depend_on_the_number_of_workers_or_on_where_a_run_starts(tiny_voc):
    serial = _batches(tiny_voc, workers=0, steps=range(4))
    parallel = _batches(tiny_voc, workers=2, steps=range(2, 4))
    for expected, batch in zip(serial[2:], parallel, strict=True):
        assert expected.ids == batch.ids
        assert torch.equal(expected.image, batch.image) and torch.equal(expected.mask, batch.mask)
    assert not torch.equal(serial[0].image, serial[1].image)  # augmented differently at every step


def test_pixel_labelled_images_come_first_in_every_batch(tiny_voc):
    for batch in _batches(tiny_voc, workers=0, steps=range(3)):
        assert batch.pixel_labelled() == 2 and batch.has_mask.tolist() == [True, True, False, False]


def test_default_workers_leave_one_core_to_the_training_process(monkeypatch):
    for cores, workers in ((1, 1), (2, 1), (6, 5), (64, 8)):
        monkeypatch.setattr(pipeline.os, "sched_getaffinity", lambda pid, n=cores: set(range(n)), raising=False)
        assert pipeline.default_workers() == workers


def test_negative_workers_are_refused(tiny_voc):
    with pytest.raises(ValueError, match="data.workers"):
        DataConfig(root=tiny_voc, workers=-1)


def test_normalisation_and_augmentation_settings_reach_every_split(tiny_voc):
    """Raw [0, 1] inputs in training, hold-out and val alike; the noise option changes the training images only."""

    def build(**options):
        config = DataConfig(root=tiny_voc, classes=tiny_voc / "classes.yaml", num_pixel=6, batch_size=4, crop_size=32)
        return build_training_data(replace(config, **options))

    raw, noisy, imagenet = build(normalise="none"), build(normalise="none", noise_p=1.0), build()
    for data in (raw, noisy):
        images = [data.val[0].image, data.holdout[0].image, next(iter(training_batches(data, 0, range(1)))).image]
        assert all(image.min() >= 0 and image.max() <= 1 for image in images)
    assert imagenet.val[0].image.min() < 0
    assert torch.equal(raw.val[0].image, noisy.val[0].image)
    first = [next(iter(training_batches(data, 0, range(1)))).image for data in (raw, noisy)]
    assert not torch.equal(*first)
