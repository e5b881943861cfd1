"""Command-line options of the tiny training runs that the CLI, reproducibility and DDP tests share."""

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
