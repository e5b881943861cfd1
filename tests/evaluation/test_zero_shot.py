"""Zero-shot heatmap statistics against hand-written references: pairwise AUC, block loops, hand-made heatmaps."""

import math

import pytest
import torch

from unrolled_lrp.data.classes import IGNORE_INDEX
from unrolled_lrp.evaluation.zero_shot import HeatmapSignal, auroc, block_mean, relevance_shares


def pairwise_auc(scores, positive):
    """Mann-Whitney by counting every (positive, negative) pair: a win 1, a tie 1/2."""
    pos, neg = scores[positive].tolist(), scores[~positive].tolist()
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auroc_is_the_pairwise_win_rate_with_ties_counted_half():
    torch.manual_seed(0)
    for _ in range(5):
        scores = torch.randint(0, 6, (200,)).float()  # many ties
        positive = torch.rand(200) < 0.3
        # torchmetrics sums in float32
        assert auroc(scores, positive) == pytest.approx(pairwise_auc(scores, positive), abs=1e-6)
    assert math.isnan(auroc(torch.rand(5), torch.zeros(5, dtype=torch.bool)))
    assert math.isnan(auroc(torch.rand(5), torch.ones(5, dtype=torch.bool)))


def test_block_mean_is_the_mean_of_each_block():
    maps = torch.randn(2, 3, 8, 12)
    expected = maps.clone()
    for y in range(0, 8, 4):
        for x in range(0, 12, 4):
            expected[..., y : y + 4, x : x + 4] = maps[..., y : y + 4, x : x + 4].mean((-2, -1), keepdim=True)
    torch.testing.assert_close(block_mean(maps, 4), expected)
    with pytest.raises(ValueError, match="block size 5"):
        block_mean(maps, 5)


def test_relevance_shares_sum_to_one_in_absolute_value():
    heatmaps = torch.randn(3, 5, 7)
    heatmaps[1] = 0
    shares = relevance_shares(heatmaps)
    torch.testing.assert_close(shares.abs().sum((-2, -1)), torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(shares[0] * heatmaps[0].abs().sum(), heatmaps[0])


def _images(seed=0, count=3, size=16):
    """Masks of background plus one or two of classes 1..3 (and a void band), random heatmaps of 4 classes."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for i in range(count):
        mask = torch.zeros(size, size, dtype=torch.long)
        mask[: size // 2, : size // 2] = 1 + i % 3
        mask[size // 2 :, size // 2 :] = 1 + (i + 1) % 3 if i % 2 else 0
        mask[:, -2:] = IGNORE_INDEX
        out.append((torch.randn(4, size, size, generator=generator), mask))
    return out


def test_contrast_auc_pools_the_pixels_of_all_images_after_dividing_by_the_relevance_sum():
    images = _images()
    signal = HeatmapSignal(4, pool=4)
    for heatmaps, mask in images:
        signal.update(heatmaps, mask)
    result = signal.compute()
    assert sorted(result["contrast_auc"]) == [(1, 2), (1, 3), (2, 3)]
    for a, b in result["contrast_auc"]:
        scores, positive = [], []
        for heatmaps, mask in images:
            share = heatmaps / heatmaps.abs().sum((-2, -1), keepdim=True)
            on_pair = (mask == a) | (mask == b)
            scores.append((share[a] - share[b])[on_pair])
            positive.append(mask[on_pair] == a)
        expected = pairwise_auc(torch.cat(scores), torch.cat(positive))
        assert result["contrast_auc"][a, b] == pytest.approx(expected, abs=1e-6)


def test_per_class_auc_is_the_mean_over_images_and_skips_void():
    images = _images(seed=1)
    signal = HeatmapSignal(4, pool=4)
    for heatmaps, mask in images:
        heatmaps[:, mask == IGNORE_INDEX] = 1e6  # void pixels must not count
        signal.update(heatmaps, mask)
    for c, value in enumerate(signal.compute()["pixel_auc"]):
        per_image = []
        for heatmaps, mask in images:
            valid = mask != IGNORE_INDEX
            if 0 < (mask[valid] == c).sum() < valid.sum():
                per_image.append(pairwise_auc(heatmaps[c][valid], mask[valid] == c))
        assert value == pytest.approx(sum(per_image) / len(per_image), abs=1e-6)


def test_heatmaps_that_are_the_mask_segment_perfectly_and_constant_ones_do_not():
    perfect, background = HeatmapSignal(4, pool=4), HeatmapSignal(4, pool=4)
    labelled = 0
    for _, mask in _images(seed=2):
        one_hot = torch.stack([(mask == c).float() for c in range(4)])
        perfect.update(one_hot, mask)
        background.update(torch.stack([torch.ones_like(one_hot[0]), *torch.zeros_like(one_hot[1:])]), mask)
        labelled += int((mask != IGNORE_INDEX).sum())
    best, worst = perfect.compute(), background.compute()
    assert best["miou"] == 1 and all(v == 1 for v in best["contrast_auc"].values())
    assert all(v == 1 for v in best["pixel_auc"] + best["pooled_auc"][1:])
    # argmax = background everywhere: IoU(background) = its pixels / all labelled pixels, 0 for the 3 other classes
    background_pixels = sum(int((mask == 0).sum()) for _, mask in _images(seed=2))
    assert worst["miou"] == pytest.approx(background_pixels / labelled / 4)
    assert all(v == 0.5 for v in worst["contrast_auc"].values())
