"""The ``ulrp`` command: typed subcommands, ``--help`` from the docstrings, ``--config`` YAML files."""

from __future__ import annotations

from jsonargparse import auto_cli

from unrolled_lrp.cli import data, explain, report, reproduce
from unrolled_lrp.cli import train as training


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``ulrp`` console command."""
    commands = {
        "data": {"synth": data.synth, "check": data.check},
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


if __name__ == "__main__":
    main()
