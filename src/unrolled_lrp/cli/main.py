"""The ``ulrp`` command: typed subcommands, ``--help`` from the docstrings, ``--config`` YAML files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jsonargparse import auto_cli

from unrolled_lrp.cli import data, explain, report, reproduce
from unrolled_lrp.cli import train as training
from unrolled_lrp.data.problems import DatasetError
from unrolled_lrp.lrp import UnsupportedLayerError

#: Errors that describe bad input (settings, files, data, models); the console shows their message only.
USER_ERRORS = (ValueError, FileNotFoundError, DatasetError, UnsupportedLayerError)


def _expand_resume(args: list[str]) -> list[str]:
    """``ulrp train|pretrain --resume RUN_DIR [overrides]`` continues the run in ``RUN_DIR`` with its own saved
    settings: it stands for ``--config RUN_DIR/config.yaml --out_dir RUN_DIR [overrides]``."""
    if not args or args[0] not in ("train", "pretrain") or "--resume" not in args:
        return args
    at = args.index("--resume")
    if at + 1 == len(args):
        raise SystemExit("--resume needs the run directory to continue, e.g. ulrp train --resume runs/train")
    run_dir = Path(args[at + 1])
    if not (run_dir / "config.yaml").exists():
        raise SystemExit(f"--resume {run_dir}: no config.yaml there; is it a run directory written by ulrp {args[0]}?")
    rest = args[1:at] + args[at + 2 :]
    return [args[0], "--config", str(run_dir / "config.yaml"), "--out_dir", str(run_dir), *rest]


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``ulrp`` console command."""
    args = _expand_resume(sys.argv[1:] if args is None else list(args))
    commands = {
        "data": {"synth": data.synth, "check": data.check, "download": data.download},
        "pretrain": training.pretrain,
        "train": training.train,
        "eval": training.eval,
        "demo": training.demo,
        "reproduce": reproduce.reproduce,
        "explain": explain.explain,
        "explain-demo": explain.explain_demo,
        "report": report.report,
    }
    auto_cli(commands, args=args, as_positional=False)


def console() -> None:
    """The ``ulrp`` console command: :func:`main`, with bad input reported as one ``error:`` message instead of a
    traceback (set ``ULRP_DEBUG=1`` to see the traceback)."""
    try:
        main()
    except USER_ERRORS as error:
        if os.environ.get("ULRP_DEBUG"):
            raise
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    console()
