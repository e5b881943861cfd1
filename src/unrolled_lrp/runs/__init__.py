"""Runs: a run directory (:mod:`.rundir`: its files, status, saved settings and resume check) and the workflows
that fill one (:mod:`.workflows`: pre-train a classifier, train a segmentation model, evaluate it).

Layer: below ``experiments`` and ``cli`` (which lay runs out, loop and print), above ``training``, ``evaluation``,
``data`` and ``models``. The run directory's layout: ARCHITECTURE.md, "A run directory".
"""

from .rundir import RESUMABLE_CHANGES, RunDir, Status, plain_config
from .workflows import build_segmenter, check_model_args, evaluate_run, pretrain, train, val_set

__all__ = [
    "RESUMABLE_CHANGES",
    "RunDir",
    "Status",
    "build_segmenter",
    "check_model_args",
    "evaluate_run",
    "plain_config",
    "pretrain",
    "train",
    "val_set",
]
