"""Shared fixtures: a tiny synthetic VOC-layout dataset for the training and command-line tests, one thread."""

import pytest
import torch

from unrolled_lrp.data.synth import SynthConfig, write_synthetic_voc


@pytest.fixture(scope="session")
def tiny_voc(tmp_path_factory):
    """ROOT with VOCdevkit/VOC2012 (8 pixel-labelled, 4 val, 8 image-level images of 32 px) and classes.yaml."""
    root = tmp_path_factory.mktemp("tiny_voc")
    write_synthetic_voc(
        root,
        SynthConfig(
            num_pixel_train=8, num_val=4, num_image_level=8, image_size=32, seed=0, classes=["background", "cat", "dog"]
        ),
    )
    return root


@pytest.fixture
def single_thread():
    """Small tensors on a 2-core machine: intra-op threads cost far more than they save."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
