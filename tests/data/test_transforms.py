import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from unrolled_lrp.data import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, crop_to_size, eval_transform, train_transform
from unrolled_lrp.data.datasets import Sample, collate

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
