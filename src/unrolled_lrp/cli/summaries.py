"""One-line console summaries of finished runs, printed by the ``ulrp`` commands."""

from __future__ import annotations

from pathlib import Path


def pretrain_summary(result: dict) -> str:
    """One line on a finished pre-training run."""
    return f"classifier {result['arch']}: val F1 {100 * result['val']['f1']:.2f} -> {result['checkpoint']}"


def train_summary(result: dict, *, out_dir: Path) -> str:
    """One line on a finished training run."""
    best = result["holdout"]
    return f"{result['model']}: best hold-out mIoU {100 * best['miou']:.2f} at step {best['step']} -> {out_dir}"


def eval_summary(model: str, *, run_dir: Path, metrics: dict) -> str:
    """One line on an evaluated run."""
    f1 = f", F1 {100 * metrics['f1']:.2f}" if "f1" in metrics else ""
    return f"{model} ({run_dir}): val mIoU {100 * metrics['miou']:.2f}{f1}"
