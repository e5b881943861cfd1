from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from unrolled_lrp.data import (
    IGNORE_INDEX,
    VOC,
    DataConfig,
    SegmentationDataset,
    build_training_data,
    collate,
    eval_transform,
    load_voc,
    read_ids,
    train_transform,
)


def test_items_have_the_documented_fields(synth_root: Path):
    pools = load_voc(synth_root)
    dataset = SegmentationDataset([pools.pixel[0], pools.image_level[0]], VOC, train_transform(48))
    pixel, image_level = dataset[0], dataset[1]
    assert pixel.image.dtype == torch.float32 and pixel.image.shape == (3, 48, 48)
    assert pixel.mask.dtype == torch.int64 and pixel.mask.shape == (48, 48) and pixel.has_mask
    assert pixel.labels.shape == (21,) and pixel.labels[0] == 1 and pixel.id == pools.pixel[0].id
    assert torch.equal(pixel.labels.nonzero().flatten(), torch.tensor(sorted(pools.pixel[0].labels)))
    assert not image_level.has_mask and (image_level.mask == IGNORE_INDEX).all()
    assert image_level.labels.sum() == len(pools.image_level[0].labels)
    assert type(pixel.image) is torch.Tensor  # plain tensors, not tv_tensors, leave the dataset


def test_evaluation_dataset_is_full_resolution(synth_root: Path):
    pools = load_voc(synth_root)
    dataset = SegmentationDataset(pools.val, VOC, eval_transform())
    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=partial(collate, stride=32))))
    assert batch.image.shape[-2] % 32 == 0 and batch.image.shape[-1] % 32 == 0
    for k in range(3):
        height, width = batch.sizes[k].tolist()
        assert dataset[k].mask.shape == (height, width)
        assert (batch.mask[k, height:] == IGNORE_INDEX).all() and (batch.mask[k, :, width:] == IGNORE_INDEX).all()


def test_training_data_end_to_end(synth_root: Path, tmp_path: Path):
    config = DataConfig(root=synth_root, num_pixel=20, seed=1, crop_size=32, holdout_fraction=0.1)
    data = build_training_data(config, regime_dir=tmp_path)
    regime = read_ids(data.regime_file)
    assert data.regime_file.name == "pixel_20_seed1.txt" and len(regime) == 20
    assert set(regime) == set(data.pixel_ids) | set(data.holdout_ids)
    assert len(data.holdout_ids) == 2 and not set(data.holdout_ids) & set(data.pixel_ids)
    val_ids = {item.id for item in data.val.items}
    train_ids = {item.id for item in data.train.items}
    assert not val_ids & train_ids and not set(data.holdout_ids) & train_ids
    loader = DataLoader(data.train, batch_sampler=data.sampler, collate_fn=collate)
    batches = list(loader)
    assert len(batches) == len(data.sampler)
    for batch in batches:
        assert batch.image.shape == (10, 3, 32, 32) and batch.has_mask.sum() == 5
        assert set(batch.ids[:5]) <= set(data.pixel_ids)
        assert (batch.mask[~batch.has_mask] == IGNORE_INDEX).all()
    # unselected pixel-pool images train with image-level labels only
    pixel_pool = {item.id for item in load_voc(synth_root).pixel}
    unselected = pixel_pool - set(data.pixel_ids) - set(data.holdout_ids)
    assert unselected and unselected <= {item.id for item in data.train.items if item.mask is None}


def test_pixel_only_training_data(synth_root: Path):
    data = build_training_data(DataConfig(root=synth_root, pixel_fraction=1.0, batch_size=4, crop_size=32))
    assert all(index < len(data.pixel_ids) for batch in data.sampler for index in batch)
