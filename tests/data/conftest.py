"""Shared fixtures: a miniature synthetic VOC tree (all 21 classes) written once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from unrolled_lrp.data import SynthConfig, write_synthetic_voc

SIZES = {"num_pixel_train": 24, "num_val": 8, "num_image_level": 16, "image_size": 64}


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Every test here runs on one intra-op thread (see ``single_thread`` in tests/conftest.py)."""


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only synthetic dataset; copy it (``voc_copy``) before modifying."""
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_voc(root, SynthConfig(seed=3, **SIZES))
    return root


@pytest.fixture
def voc_copy(synth_root: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic dataset for tests that damage or extend it."""
    shutil.copytree(synth_root, tmp_path / "voc")
    return tmp_path / "voc"
