import random
from collections import Counter
from pathlib import Path

import pytest

from unrolled_lrp.data import load_voc, read_ids, regime_order, select_regime, write_regime

NUM_FG = 20


def voc_like_labels(size: int = 1464, seed: int = 0) -> dict[str, frozenset[int]]:
    """Skewed multi-label pool like VOC train (1-3 classes per image, a few background-only images)."""
    rng = random.Random(seed)
    weights = [1 / (c + 1) for c in range(NUM_FG)]
    labels = {
        f"{k:06d}": frozenset(rng.choices(range(1, NUM_FG + 1), weights=weights, k=rng.randint(1, 3)))
        for k in range(size)
    }
    labels.update({f"bg{k}": frozenset({0}) for k in range(5)})
    return labels


def coverage(labels, ids) -> Counter:
    return Counter(cls for image_id in ids for cls in labels[image_id] if cls)


def test_regime_order_is_deterministic_and_covers_the_pool():
    labels = voc_like_labels()
    order = regime_order(labels, seed=7)
    assert order == regime_order(labels, seed=7) and sorted(order) == sorted(labels)
    assert order != regime_order(labels, seed=8)
    assert regime_order(dict(reversed(labels.items())), seed=7) == order  # not tied to dict order


def test_regimes_are_nested():
    labels = voc_like_labels()
    regimes = [set(select_regime(labels, n, seed=3)) for n in (20, 100, 500, 1000, len(labels))]
    assert all(small < large for small, large in zip(regimes, regimes[1:]))
    assert [len(r) for r in regimes] == [20, 100, 500, 1000, len(labels)]


@pytest.mark.parametrize("seed", range(5))
def test_small_regimes_cover_classes_uniformly(seed: int):
    labels = voc_like_labels(seed=seed)
    for n in (20, 100):
        counts = coverage(labels, select_regime(labels, n, seed=seed))
        assert set(counts) == set(range(1, NUM_FG + 1))  # every class at least once
        assert min(counts.values()) >= n // NUM_FG  # the least-covered class is always topped up


def test_coverage_even_when_the_threshold_is_small():
    """A rare class missing from the first mixed draws is still pulled into the greedy phase."""
    labels = {f"a{k}": frozenset({1}) for k in range(300)} | {f"b{k}": frozenset({2}) for k in range(300)}
    labels["rare"] = frozenset({3})
    for seed in range(10):
        assert "rare" in select_regime(labels, 3, seed=seed, threshold=5)


def test_large_regimes_follow_the_mixed_distribution():
    """Single-class images: draws at N >= threshold are multinomial with q = (uniform + class frequency) / 2."""
    counts = [3000, 1500, 800, 400, 300, 250, 200, 200, 200, 200]
    labels = {f"{cls}_{k}": frozenset({cls}) for cls, count in enumerate(counts, 1) for k in range(count)}
    n, total = 1500, sum(counts)
    drawn = coverage(labels, select_regime(labels, n, seed=0, threshold=500))

    def chi2(probabilities):
        return sum((drawn[cls] - n * p) ** 2 / (n * p) for cls, p in enumerate(probabilities, 1))

    mixed = [0.5 / len(counts) + 0.5 * count / total for count in counts]
    assert chi2(mixed) < 27.9  # chi-square, 9 degrees of freedom, p = 0.001
    assert chi2([1 / len(counts)] * len(counts)) > 100  # clearly not uniform ...
    assert chi2([count / total for count in counts]) > 100  # ... nor proportional


def test_uniform_weight_is_configurable():
    counts = [3000, 1000]
    labels = {f"{cls}_{k}": frozenset({cls}) for cls, count in enumerate(counts, 1) for k in range(count)}
    proportional = coverage(labels, select_regime(labels, 1000, seed=0, threshold=10, uniform_weight=0.0))
    uniform = coverage(labels, select_regime(labels, 1000, seed=0, threshold=10, uniform_weight=1.0))
    assert proportional[2] < 300 < 450 < uniform[2]  # expected 250 vs 500 of 1000


def test_invalid_sizes_are_rejected():
    with pytest.raises(ValueError, match="between 0 and the pool size"):
        select_regime(voc_like_labels(10), len(voc_like_labels(10)) + 1)
    with pytest.raises(ValueError, match="between 0 and the pool size"):
        select_regime(voc_like_labels(10), -1)
    assert select_regime(voc_like_labels(10), 0) == []  # image-level only: classifier pre-training


def test_regime_file_round_trips(synth_root: Path, tmp_path: Path):
    labels = load_voc(synth_root).pixel_labels()
    chosen = select_regime(labels, 20, seed=1)
    path = write_regime(chosen, tmp_path / "regimes", seed=1)
    assert path.name == "pixel_20_seed1.txt" and read_ids(path) == chosen
    assert set(coverage(labels, chosen)) == set(range(1, 21))  # the synthetic pool lets 20 images cover 20 classes


def test_without_background_class_zero_is_balanced_like_any_other():
    """11-class CamVid: index 0 is sky, a class of its own, not a background to skip."""
    labels = {f"a{k}": frozenset({1}) for k in range(10)} | {"sky": frozenset({0})}
    assert "sky" in select_regime(labels, 2, seed=0, background=None)
    assert all("sky" not in select_regime(labels, 2, seed=seed) for seed in range(5))  # 0 = background: skipped
