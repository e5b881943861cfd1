"""The same ``ulrp train`` command twice gives bit-identical weights, for every model: ``optim.seed`` seeds the
random classifier (no checkpoint), the decoders, augmentation and dropout, ``data.seed`` the regime and batches."""

from __future__ import annotations

import pytest
import torch

from tiny_runs import tiny_data_args
from unrolled_lrp.cli.main import main
from unrolled_lrp.models import list_models
from unrolled_lrp.training.checkpoint import load


@pytest.mark.parametrize("model", list_models())
def test_the_same_train_command_twice_gives_identical_weights(tiny_voc, tmp_path, single_thread, model):
    def weights(out: str, state: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(state)  # two processes start from different random states
        main(
            [
                "train",
                *tiny_data_args(tiny_voc),
                "--optim.steps",
                "2",
                "--optim.eval_every",
                "2",
                "--optim.lr",
                "1e-3",
                "--optim.seed",
                "3",
                "--model",
                model,
                "--out_dir",
                str(tmp_path / out),
            ]
        )
        return load(tmp_path / out / "last.pt")["model"]

    first, second = weights("first", 1), weights("second", 2)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
