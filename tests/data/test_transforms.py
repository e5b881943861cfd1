import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from unrolled_lrp.data import (
    IGNORE_INDEX,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DataConfig,
    RandomScale,
    crop_to_size,
    eval_transform,
    train_transform,
)
from unrolled_lrp.data.datasets import Sample, collate
from unrolled_lrp.data.transforms import input_range

CELL, SIDE = 8, 120  # the mask holds the 15×15 grid cell of each pixel: values 0..224, below 255


def coordinate_pair() -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """Image channels = 2·y and 2·x; mask = grid cell of (y, x)."""
    yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
    image = torch.stack([2 * yy, 2 * xx, torch.zeros_like(yy)]).to(torch.uint8)
    return tv_tensors.Image(image), tv_tensors.Mask((yy // CELL) * (SIDE // CELL) + xx // CELL)


def agreement(image: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of labelled pixels whose decoded image coordinates fall in the mask's grid cell."""
    pixels = image * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    y, x = (pixels[:2] * 255 / 2 + 0.5).floor().long()
    cell = (y // CELL) * (SIDE // CELL) + x // CELL
    valid = mask != IGNORE_INDEX
    return (cell[valid] == mask[valid]).float().mean().item()


def geometric(crop: int = 64) -> v2.Compose:
    return train_transform(crop, scale_range=(0.6, 1.8), flip_p=0.5, color_jitter=(0, 0, 0, 0))


def test_image_and_mask_stay_aligned_under_scale_crop_flip():
    torch.manual_seed(0)
    image, mask = coordinate_pair()
    transform = geometric()
    scores = []
    for _ in range(30):
        out_image, out_mask = transform(image, mask)
        assert out_image.shape == (3, 64, 64) and out_mask.shape == (64, 64) and out_mask.dtype == torch.int64
        scores.append(agreement(out_image, out_mask))
    # Only cell borders may disagree (interpolation, uint8 rounding); a misaligned mask scores < 0.5.
    assert min(scores) > 0.85 and sum(scores) / len(scores) > 0.92


def test_alignment_check_detects_a_misaligned_mask():
    """Power of the test above: flipping only the image breaks agreement."""
    torch.manual_seed(0)
    image, mask = coordinate_pair()
    out_image, out_mask = geometric()(image, mask)
    assert agreement(out_image.flip(-1), out_mask) < 0.5


def test_colour_jitter_changes_the_image_only():
    torch.manual_seed(1)
    image, mask = coordinate_pair()
    jitter = train_transform(SIDE, scale_range=(1, 1), flip_p=0, color_jitter=(0.5, 0.5, 0.5, 0.1))
    out_image, out_mask = jitter(image, mask)
    assert torch.equal(out_mask, mask) and not torch.allclose(out_image, eval_transform()(image, mask)[0])


def test_void_label_survives_augmentation():
    torch.manual_seed(2)
    image, mask = coordinate_pair()
    mask = mask.clone()
    mask[:, 50:60] = IGNORE_INDEX
    for _ in range(10):
        _, out_mask = geometric(96)(image, mask)
        assert set(out_mask.unique().tolist()) <= set(mask.unique().tolist())
        assert (out_mask == IGNORE_INDEX).any()


def test_small_images_are_padded_with_ignore_and_zero():
    image, mask = coordinate_pair()
    out_image, out_mask = train_transform(256, scale_range=(1, 1), color_jitter=(0, 0, 0, 0))(image, mask)
    assert out_image.shape == (3, 256, 256)
    assert (out_mask == IGNORE_INDEX).sum() == 256 * 256 - SIDE * SIDE
    assert out_image[:, out_mask == IGNORE_INDEX].abs().max() == 0


def test_evaluation_pads_to_the_stride_and_crops_back():
    samples = []
    for height, width in ((70, 45), (33, 96)):
        image = tv_tensors.Image(torch.randint(0, 256, (3, height, width), dtype=torch.uint8))
        mask = tv_tensors.Mask(torch.randint(0, 21, (height, width)))
        image, mask = eval_transform()(image, mask)
        samples.append(Sample(image, mask, torch.ones(21), True, f"{height}x{width}"))
    batch = collate(samples, stride=32)
    assert batch.image.shape == (2, 3, 96, 96) and batch.sizes.tolist() == [[70, 45], [33, 96]]
    for k, sample in enumerate(samples):
        assert torch.equal(crop_to_size(batch.image[k], batch.sizes[k]), sample.image)
        assert torch.equal(crop_to_size(batch.mask[k], batch.sizes[k]), sample.mask)
        assert (batch.mask[k] == IGNORE_INDEX).sum() == 96 * 96 - sample.mask.numel()


def test_normalisation_uses_imagenet_statistics():
    image = tv_tensors.Image(torch.full((3, 4, 4), 255, dtype=torch.uint8))
    out, _ = eval_transform()(image, tv_tensors.Mask(torch.zeros(4, 4, dtype=torch.int64)))
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(out[:, 0, 0], expected)


def _extremes(normalise):
    """What the evaluation transform makes of a black and a white pixel, per channel."""
    image = tv_tensors.Image(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 2).expand(3, 1, 2).clone())
    out, _ = eval_transform(normalise)(image, tv_tensors.Mask(torch.zeros(1, 2, dtype=torch.int64)))
    return out[:, 0, 0].tolist(), out[:, 0, 1].tolist()


def _plain(crop=SIDE, **options):
    """No scaling, flipping or jitter; raw [0, 1] inputs; crops larger than the image pad it."""
    return train_transform(crop, scale_range=(1, 1), flip_p=0, color_jitter=(0, 0, 0, 0), normalise="none", **options)


@pytest.mark.parametrize(
    ("normalise", "low", "high"),
    [("imagenet", [-2.1179, -2.0357, -1.8044], [2.2489, 2.4286, 2.64]), ("none", [0, 0, 0], [1, 1, 1])],
)
def test_input_range_is_the_range_the_network_sees(tmp_path, normalise, low, high):
    """Hand-computed (0 - mean) / std and (1 - mean) / std, and what the transform makes of black and white."""
    expected = (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))
    assert input_range(normalise) == expected
    assert DataConfig(root=tmp_path, normalise=normalise).input_range() == expected
    assert _extremes(normalise) == expected


def test_raw_inputs_are_the_pixels_over_255_in_training_and_evaluation():
    image, mask = coordinate_pair()
    expected = image.float() / 255
    torch.testing.assert_close(eval_transform("none")(image, mask)[0].as_subclass(torch.Tensor), expected)
    out, out_mask = _plain(crop=SIDE + 16)(image, mask)
    inside = out_mask != IGNORE_INDEX
    torch.testing.assert_close(out[:, inside].as_subclass(torch.Tensor), expected[:, mask != IGNORE_INDEX])
    assert out[:, ~inside].abs().max() == 0


def _total_variation(image):
    return float(image.diff(dim=-2).abs().mean() + image.diff(dim=-1).abs().mean())


def _checkerboard():
    yy, xx = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
    image = ((yy // 2 + xx // 2) % 2 * 255).to(torch.uint8).expand(3, SIDE, SIDE).clone()
    return tv_tensors.Image(image), tv_tensors.Mask((yy // CELL) * (SIDE // CELL) + xx // CELL)


def test_blur_smooths_the_image_only():
    torch.manual_seed(3)
    image, mask = _checkerboard()
    sharp = _total_variation(_plain()(image, mask)[0])
    for _ in range(5):
        blurred, out_mask = _plain(blur_p=1.0, blur_sigma=(1.0, 2.0))(image, mask)
        assert _total_variation(blurred) < 0.2 * sharp and torch.equal(out_mask, mask)


def test_noise_has_its_sigma_and_spares_the_mask_and_the_padding():
    torch.manual_seed(4)
    image = tv_tensors.Image(torch.full((3, SIDE, SIDE), 128, dtype=torch.uint8))
    _, mask = coordinate_pair()
    out, out_mask = _plain(crop=SIDE + 40, noise_p=1.0, noise_sigma=0.05)(image, mask)
    inside = out_mask != IGNORE_INDEX
    assert torch.equal(out_mask[inside], mask.flatten()) and inside.sum() == mask.numel()
    assert out[:, inside].std().item() == pytest.approx(0.05, rel=0.05)
    assert out[:, inside].mean().item() == pytest.approx(128 / 255, abs=2e-3)
    assert out[:, ~inside].abs().max() == 0


def test_blur_and_noise_switched_off_leave_the_augmentation_as_it_was():
    """The documented pipeline built by hand draws the same random numbers: the same crops, flips and jitter."""
    image, mask = coordinate_pair()
    by_hand = v2.Compose(
        [
            RandomScale((0.6, 1.8)),
            v2.RandomHorizontalFlip(0.5),
            v2.ColorJitter(0.3, 0.3, 0.3, 0.05),
            v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            v2.RandomCrop(64, pad_if_needed=True, fill={tv_tensors.Image: 0.0, tv_tensors.Mask: IGNORE_INDEX}),
        ]
    )
    for seed in range(3):
        torch.manual_seed(seed)
        expected = by_hand(image, mask)
        torch.manual_seed(seed)
        out = train_transform(64, scale_range=(0.6, 1.8), blur_p=0.0, noise_p=0.0)(image, mask)
        assert all(torch.equal(a, b) for a, b in zip(out, expected, strict=True))


@pytest.mark.parametrize(
    ("option", "value"),
    [("blur_p", 1.5), ("noise_p", -0.1), ("blur_sigma", (2.0, 1.0)), ("blur_sigma", (0.0, 1.0)), ("noise_sigma", 0.0)],
)
def test_bad_blur_and_noise_settings_are_refused_by_name(tmp_path, option, value):
    with pytest.raises(ValueError, match=f"data.{option}"):
        DataConfig(root=tmp_path, **{option: value})
