"""The ``ulrp`` command: typed subcommands, ``--help`` from the docstrings, ``--config`` YAML files."""

from __future__ import annotations

import argparse
import inspect
import os
import shlex
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from unrolled_lrp.cli import data, explain, report, reproduce
from unrolled_lrp.cli import train as training
from unrolled_lrp.data.problems import DatasetError
from unrolled_lrp.lrp import UnsupportedLayerError
from unrolled_lrp.runs import RESUMABLE_CHANGES, RunDir
from unrolled_lrp.runs.lock import Locked
from unrolled_lrp.training.safety import Preempted, TrainingDiverged

#: Errors that describe bad input (settings, files, data, models), a diverged run or a run directory that another
#: process writes; the console shows their message only (any other exception with its type).
USER_ERRORS = (ValueError, FileNotFoundError, DatasetError, UnsupportedLayerError, TrainingDiverged, Locked)

COMMANDS: dict[str, Any] = {
    "data": {"synth": data.synth, "check": data.check, "download": data.download},
    "pretrain": training.pretrain,
    "train": training.train,
    "eval": training.evaluate,
    "demo": training.demo,
    "reproduce": reproduce.reproduce,
    "explain": explain.explain,
    "explain-demo": explain.explain_demo,
    "report": report.report,
}

#: Commands that write a run directory and can continue one with ``--resume RUN_DIR``.
RESUMABLE_COMMANDS = ("train", "pretrain")


class ResumeRun(argparse.Action):
    """``--resume RUN_DIR``: the settings saved in ``RUN_DIR/config.yaml`` and ``--out_dir RUN_DIR``; options
    after it override single settings (the run directory refuses those that change the result)."""

    def __call__(self, parser: Any, cfg: Any, values: Any, option_string: str | None = None) -> None:
        run = RunDir(Path(values))
        if not run.config.is_file():
            raise TypeError(f"{run.path}: no config.yaml there; is it a run directory written by ulrp train/pretrain?")
        cfg[self.dest] = []  # apply_config records the file read here
        ActionConfigFile.apply_config(parser, cfg, self.dest, str(run.config))
        cfg["out_dir"] = run.path


def _summary(command: Any, name: str) -> str:
    """A command's help line: its docstring's first paragraph; a group of commands lists its members."""
    if isinstance(command, dict):
        return f"{name} commands: {', '.join(command)}"
    return (inspect.getdoc(command) or name).split("\n\n")[0]


def _fill(parser: ArgumentParser, command: Any, name: str) -> None:
    """Give ``parser`` the options of ``command``: ``--config``, the typed options of its function (``--help`` from
    its docstring) and ``--resume`` if it writes a run directory; a group of commands gets a subcommand per member
    (jsonargparse wants a subcommand's parser attached before its own subcommands are added)."""
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of settings; options after it override")
    if isinstance(command, dict):
        subcommands = parser.add_subcommands(required=True)
        for member, function in command.items():
            description = inspect.getdoc(function) if callable(function) else None
            subparser = ArgumentParser(prog=f"{parser.prog} {member}", description=description)
            subcommands.add_subcommand(member, subparser, help=_summary(function, member))
            _fill(subparser, function, member)
        return
    parser.add_function_arguments(command, as_group=False, as_positional=False, sub_configs=True)
    if name in RESUMABLE_COMMANDS:
        parser.add_argument(
            "--resume",
            action=ResumeRun,
            metavar="RUN_DIR",
            help="continue the run in RUN_DIR with its saved settings; options after it override single settings, "
            f"of which only these may change: {', '.join(sorted(RESUMABLE_CHANGES))}",
        )


def build_parser() -> ArgumentParser:
    """The parser of every subcommand, with ``--resume`` on those that write a run directory."""
    parser = ArgumentParser(prog="ulrp", description=__doc__)
    _fill(parser, COMMANDS, "ulrp")
    return parser


def _command(commands: dict[str, Any], config: Namespace) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The chosen (sub)command's function and its arguments."""
    name = config["subcommand"]
    arguments = config[name]
    if isinstance(commands[name], dict):
        return _command(commands[name], arguments)
    values = {key: value for key, value in vars(arguments).items() if key not in ("config", "resume")}
    return commands[name], values


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``ulrp`` command; returns the exit status (a command's int result, else 0)."""
    parser = build_parser()
    config = parser.instantiate(parser.parse_args(sys.argv[1:] if args is None else list(args)))
    command, arguments = _command(COMMANDS, config)
    result = command(**arguments)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def resume_command(args: list[str], stop: Preempted) -> str:
    """The command that continues a preempted run: ``--resume RUN_DIR`` for one run, the same command for a grid."""
    if args[0] in RESUMABLE_COMMANDS:
        return f"ulrp {args[0]} --resume {shlex.quote(str(stop.checkpoint.parent))}"
    return shlex.join(["ulrp", *args])


def _error_line(error: Exception) -> str:
    """The one line the console prints for ``error``: the message of bad input, the type too for anything else
    (a failure inside a run, a bug), with where to find the traceback."""
    if isinstance(error, USER_ERRORS):
        return f"error: {error}"
    return f"error: {type(error).__name__}: {error} (ULRP_DEBUG=1 shows the traceback)"


def _warning_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """A warning as the console prints it: one ``warning:`` line, without the source line that raised it."""
    return f"warning: {message}\n"


def console() -> None:
    """The ``ulrp`` console command: :func:`main`, with any exception reported as one ``error:`` line and exit
    status 1 instead of a traceback, and each warning as one ``warning:`` line (set ``ULRP_DEBUG=1`` to see the
    traceback and where warnings come from). A preempted run (SIGTERM, SIGINT) says how to resume and exits with
    128 + the signal number, as if the signal had ended it."""
    if not os.environ.get("ULRP_DEBUG"):
        warnings.formatwarning = _warning_line
    try:
        status = main()
    except Preempted as stop:
        print(f"{stop}; to resume: {resume_command(sys.argv[1:], stop)}", file=sys.stderr)
        sys.exit(128 + stop.signum)
    except Exception as error:
        if os.environ.get("ULRP_DEBUG"):
            raise
        sys.exit(_error_line(error))
    sys.exit(status)


if __name__ == "__main__":
    console()
