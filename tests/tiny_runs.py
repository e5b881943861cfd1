"""Command-line options of the tiny training runs that the CLI, reproducibility and DDP tests share, and the tiny
grid of the grid tests."""

from __future__ import annotations

from pathlib import Path


def tiny_data_args(root: Path) -> list[str]:
    """The ``tiny_voc`` dataset with 6 pixel-labelled images, batches of 4 and crops of 32."""
    return [
        "--data.root",
        str(root),
        "--data.classes",
        str(root / "classes.yaml"),
        "--data.num_pixel",
        "6",
        "--data.batch_size",
        "4",
        "--data.crop_size",
        "32",
    ]


def tiny_grid(root: Path) -> dict:
    """A grid of 8 runs (2 models x 2 regimes x 2 seeds) on a synthetic dataset written to ``root / "data"``: two
    foreground classes on 32-pixel images, a few steps per run, seconds per run on one core."""
    return {
        "data": {"root": str(root / "data"), "crop_size": 32, "batch_size": 4},
        "synth": {
            "num_pixel_train": 8,
            "num_val": 4,
            "num_image_level": 8,
            "image_size": 32,
            "classes": ["background", "aeroplane", "bird"],
        },
        "encoders": ["resnet18"],
        "pretrain_optim": {"steps": 2, "lr": 1e-3, "eval_every": 2},
        "models": ["unrolled_lrp", "unet"],
        "regimes": [2, 4],
        "seeds": [0, 1],
        "optim": {"steps": 2, "lr": 1e-4, "eval_every": 2, "log_every": 1},
    }
