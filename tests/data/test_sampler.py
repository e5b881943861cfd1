from collections import Counter

import pytest

from unrolled_lrp.data import MixedBatchSampler


def take(sampler: MixedBatchSampler, count: int) -> list[list[int]]:
    batches = []
    while len(batches) < count:
        batches.extend(sampler)
    return batches[:count]


def test_each_batch_has_the_configured_mix():
    sampler = MixedBatchSampler(7, 30, batch_size=10, pixel_fraction=0.4, seed=1)
    for batch in take(sampler, 20):
        assert len(batch) == 10
        assert sum(index < 7 for index in batch) == 4 and all(7 <= index < 37 for index in batch[4:])


def test_pixel_only_batches_need_no_image_level_pool():
    sampler = MixedBatchSampler(12, 0, batch_size=4, pixel_fraction=1.0)
    assert len(sampler) == 3 and all(index < 12 for batch in take(sampler, 9) for index in batch)


def test_an_empty_image_level_pool_gives_its_share_to_the_pixel_labelled_images():
    """A fully pixel-labelled dataset whose whole pool is the regime: every batch is pixel-labelled."""
    sampler = MixedBatchSampler(12, 0, batch_size=4, pixel_fraction=0.5, seed=3)
    assert (sampler.pixel_per_batch, sampler.image_per_batch, len(sampler)) == (4, 0, 3)
    assert sorted(i for batch in take(sampler, 3) for i in batch) == list(range(12))


def test_pools_cycle_independently_with_a_fresh_permutation_per_pass():
    sampler = MixedBatchSampler(6, 10, batch_size=4, pixel_fraction=0.5, seed=2)  # 2 + 2 per batch
    batches = take(sampler, 15)
    pixel = [i for b in batches for i in b[:2]]
    image = [i for b in batches for i in b[2:]]
    passes = [pixel[k : k + 6] for k in range(0, 30, 6)]
    assert all(sorted(p) == list(range(6)) for p in passes) and len({tuple(p) for p in passes}) > 1
    assert all(sorted(image[k : k + 10]) == list(range(6, 16)) for k in range(0, 30, 10))


def test_same_seed_same_sequence_other_seed_other_sequence():
    make = lambda seed: take(MixedBatchSampler(20, 50, seed=seed), 12)  # noqa: E731
    assert make(0) == make(0) and make(0) != make(1)


def test_epoch_is_one_pass_over_the_slower_pool():
    assert len(MixedBatchSampler(20, 500, batch_size=10)) == 100  # 500 image-level / 5 per batch
    assert len(MixedBatchSampler(200, 30, batch_size=10)) == 40  # 200 pixel-labelled / 5 per batch
    assert len(MixedBatchSampler(20, 500, epoch_length=7)) == 7
    assert len(list(MixedBatchSampler(20, 500, epoch_length=7))) == 7


def test_state_round_trips_mid_epoch():
    reference = take(MixedBatchSampler(9, 23, batch_size=6, seed=5), 40)
    sampler = MixedBatchSampler(9, 23, batch_size=6, seed=5)
    consumed = []
    for batch in sampler:  # stop in the middle of the first epoch
        consumed.append(batch)
        if len(consumed) == 3:
            break
    state = sampler.state_dict()
    resumed = MixedBatchSampler(9, 23, batch_size=6, seed=5)
    resumed.load_state_dict(state)
    assert consumed + take(resumed, 37) == reference
    assert list(resumed)  # iterating after a full epoch starts the next one


def test_state_from_another_configuration_is_refused():
    state = MixedBatchSampler(9, 23, seed=5).state_dict()
    with pytest.raises(ValueError, match="seed"):
        MixedBatchSampler(9, 23, seed=6).load_state_dict(state)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_pixel": 0, "num_image_level": 10}, "pixel-labelled images but that pool is empty"),
        ({"num_pixel": 0, "num_image_level": 0}, "pixel-labelled images but that pool is empty"),
        ({"num_pixel": 10, "num_image_level": 10, "pixel_fraction": 1.5}, "pixel_fraction"),
    ],
)
def test_impossible_mixes_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixedBatchSampler(**kwargs)


def test_every_image_is_used_equally_often_over_whole_passes():
    counts = Counter(i for b in take(MixedBatchSampler(5, 15, seed=0), 15) for i in b)
    assert {counts[i] for i in range(5)} == {15} and {counts[i] for i in range(5, 20)} == {5}
