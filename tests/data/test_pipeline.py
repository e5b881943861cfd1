"""The parallel input pipeline: the same batches whatever the number of worker processes, from any step on."""

import multiprocessing
from dataclasses import replace

import pytest
import torch

from unrolled_lrp.data import pipeline
from unrolled_lrp.data.pipeline import DataConfig, build_training_data, training_batches


def _data(root, workers):
    return build_training_data(
        DataConfig(root=root, classes=root / "classes.yaml", num_pixel=6, batch_size=4, crop_size=32, workers=workers)
    )


def _batches(root, workers, steps):
    with training_batches(_data(root, workers), seed=3, steps=steps) as batches:
        return list(batches)


def test_batches_do_not_depend_on_the_number_of_workers_or_on_where_a_run_starts(tiny_voc):
    serial = _batches(tiny_voc, workers=0, steps=range(4))
    parallel = _batches(tiny_voc, workers=2, steps=range(2, 4))
    for expected, batch in zip(serial[2:], parallel, strict=True):
        assert expected.ids == batch.ids
        assert torch.equal(expected.image, batch.image) and torch.equal(expected.mask, batch.mask)
    assert not torch.equal(serial[0].image, serial[1].image)  # augmented differently at every step


def test_the_workers_end_with_the_block_while_a_kept_traceback_holds_its_frame(tiny_voc):
    # an uncaught exception keeps its traceback (sys.last_traceback) until the interpreter has waited for the workers
    with pytest.raises(RuntimeError) as failure:
        with training_batches(_data(tiny_voc, workers=2), seed=3, steps=range(8)) as batches:
            next(batches)
            assert len(multiprocessing.active_children()) == 2
            raise RuntimeError("the training step failed")
    assert failure.value.__traceback__ is not None and multiprocessing.active_children() == []


def test_pixel_labelled_images_come_first_in_every_batch(tiny_voc):
    for batch in _batches(tiny_voc, workers=0, steps=range(3)):
        assert batch.pixel_labelled() == 2 and batch.has_mask.tolist() == [True, True, False, False]


def test_default_workers_leave_one_core_to_the_training_process(monkeypatch):
    for cores, workers in ((1, 1), (2, 1), (6, 5), (64, 8)):
        monkeypatch.setattr(pipeline.os, "sched_getaffinity", lambda pid, n=cores: set(range(n)), raising=False)
        assert pipeline.default_workers() == workers


def test_normalisation_and_augmentation_settings_reach_every_split(tiny_voc):
    """Raw [0, 1] inputs in training, hold-out and val alike; the noise option changes the training images only."""

    def build(**options):
        config = DataConfig(root=tiny_voc, classes=tiny_voc / "classes.yaml", num_pixel=6, batch_size=4, crop_size=32)
        return build_training_data(replace(config, **options))

    def first_batch(data):
        with training_batches(data, 0, range(1)) as batches:
            return next(iter(batches)).image

    raw, noisy, imagenet = build(normalise="none"), build(normalise="none", noise_p=1.0), build()
    for data in (raw, noisy):
        images = [data.val[0].image, data.holdout[0].image, first_batch(data)]
        assert all(image.min() >= 0 and image.max() <= 1 for image in images)
    assert imagenet.val[0].image.min() < 0
    assert torch.equal(raw.val[0].image, noisy.val[0].image)
    assert not torch.equal(first_batch(raw), first_batch(noisy))


def _config(root, **changes):
    return DataConfig(root=root, classes=root / "classes.yaml", batch_size=4, crop_size=32, **changes)


def test_a_regime_too_small_for_a_hold_out_split_is_refused_but_pretraining_needs_none(tiny_voc):
    with pytest.raises(ValueError, match=r"1 pixel-labelled image\(s\) selected leave none for the hold-out split"):
        build_training_data(_config(tiny_voc, num_pixel=1))
    assert not build_training_data(_config(tiny_voc, num_pixel=0, pixel_fraction=0.0)).holdout_ids  # image labels


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 0}, r"data\.batch_size must be a positive integer, got 0"),
        ({"num_pixel": -1}, r"data\.num_pixel must be an integer >= 0, got -1"),
        ({"holdout_fraction": 1.0}, r"data\.holdout_fraction must be in \(0, 1\)"),
        ({"pixel_fraction": 1.5}, r"data\.pixel_fraction must be in \[0, 1\], got 1\.5"),
        ({"scale_range": (0.0, 1.0)}, r"data\.scale_range must be > 0, got 0\.0"),
        ({"scale_range": (2.0, 1.0)}, r"data\.scale_range must be \(low, high\) with low <= high"),
        ({"seed": 2**32}, r"data\.seed must be an integer in \[0, 2\*\*32\)"),
        ({"workers": -1}, r"data\.workers must be an integer >= 0, got -1"),
    ],
)
def test_settings_built_in_python_are_range_checked_too(tiny_voc, changes, message):
    with pytest.raises(ValueError, match=message):
        DataConfig(root=tiny_voc, **changes)
