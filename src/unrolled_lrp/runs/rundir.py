"""A run directory: the one place that names a run's files, its status, its saved settings and the resume check.

The layout itself is described once, in ARCHITECTURE.md ("A run directory"); the properties below are its names.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from .lock import Locked, exclusive

#: Settings a resumed run may change: how long it runs, where and how fast, not what it computes.
#: The one list of them: add a setting here when changing it mid-run leaves the result unchanged.
RESUMABLE_CHANGES = frozenset({"optim.steps", "optim.device", "optim.eval_every", "optim.log_every", "data.workers"})


class Status(str, Enum):
    """Where a run stands: its result written, a checkpoint to resume from, or nothing yet."""

    FINISHED = "finished"
    PARTIAL = "partial"
    TODO = "todo"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RunDir:
    """A run directory and the names of its files. It is the :class:`~unrolled_lrp.training.runfiles.RunFiles`
    the trainer and the pre-trainer write to.

    A run is finished when its ``result`` file exists: ``val_metrics.json`` for a segmentation run (trained and
    evaluated); :meth:`pretraining` runs finish with ``metrics.json``.
    """

    path: Path
    result: str = "val_metrics.json"

    @classmethod
    def pretraining(cls, path: Path) -> RunDir:
        """A pre-training run directory: finished once the classifier's val F1 is written."""
        return cls(Path(path), result="metrics.json")

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    @property
    def log(self) -> Path:
        return self.path / "log.csv"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def snapshots(self) -> Path:
        return self.path / "snapshots"

    @property
    def classifier(self) -> Path:
        return self.path / "classifier.pt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def val_metrics(self) -> Path:
        return self.path / "val_metrics.json"

    @property
    def val_table(self) -> Path:
        return self.path / "val_metrics.md"

    @property
    def lockfile(self) -> Path:
        """Locked while a process writes the run (:meth:`lock`); holds that process's pid and host."""
        return self.path / ".lock"

    @contextmanager
    def lock(self, *, wait: bool = False) -> Iterator[None]:
        """Hold the run directory for this process until the block ends: one process writes a run at a time.

        Another process holding it: wait for it (``wait``), or raise :class:`RunLocked` naming it. The operating
        system releases the lock when this process dies (see :mod:`.lock`); taken again by this process, it nests.
        """
        with ExitStack() as stack:
            try:
                handle = stack.enter_context(exclusive(self.lockfile, wait=wait))
            except Locked as error:
                raise RunLocked(self.path, self.holder()) from error
            handle.truncate(0)
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
            handle.flush()
            yield

    def holder(self) -> str:
        """The process that holds (or last held) the run directory, as its lock file says."""
        try:
            return self.lockfile.read_text().strip() or "pid unknown"
        except FileNotFoundError:
            return "pid unknown"

    def held_by(self) -> str | None:
        """The process writing the run directory now (:meth:`holder`), or None when no process holds it."""
        if not self.lockfile.exists():
            return None
        try:
            with exclusive(self.lockfile, wait=False):
                return None
        except Locked:
            return self.holder()

    def clear(self) -> None:
        """Delete the run's files (to start it afresh), all but the lock file that this process may be holding."""
        for entry in self.path.iterdir() if self.path.is_dir() else ():
            if entry == self.lockfile:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    @property
    def status(self) -> Status:
        """finished (result written), partial (``last.pt`` to resume from) or todo."""
        if (self.path / self.result).exists():
            return Status.FINISHED
        return Status.PARTIAL if self.last.exists() else Status.TODO

    def saved_config(self) -> dict[str, Any]:
        """The settings the run was started with; a clear error when this is not a run directory."""
        if not self.config.is_file():
            raise FileNotFoundError(f"{self.path}: no config.yaml there; is it a run directory written by ulrp?")
        return yaml.safe_load(self.config.read_text()) or {}

    def check_resumable(self, config: dict[str, Any], defaults: dict[str, Any] | None = None) -> None:
        """Refuse to resume with settings that change what the run computes: the result would match neither.

        A setting the saved run does not list, because it was added after the run started, counts as unchanged at
        its default value (``defaults``, flattened like ``"data.normalise"``: :func:`setting_defaults`): the run
        computed what the default computes.
        """
        if not self.config.exists():
            return
        saved, new, defaults = _flatten(self.saved_config()), _flatten(config), defaults or {}
        added = {k for k in new.keys() - saved.keys() if k in defaults and new[k] == defaults[k]}
        changed = sorted(
            k
            for k in saved.keys() | new.keys()
            if saved.get(k) != new.get(k) and k not in RESUMABLE_CHANGES and k not in added
        )
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in changed)
            raise ValueError(
                f"{self.path} holds a run with other settings ({details}); resume it with its own "
                f"settings (--resume {self.path}), pass --overwrite true to start it anew, or choose another --out_dir"
            )

    def prepare(self, config: dict[str, Any], *, overwrite: bool, defaults: dict[str, Any] | None = None) -> None:
        """Resume the run here (same settings; ``defaults`` as in :meth:`check_resumable`) or start it afresh
        (``overwrite``, or nothing to resume); then save ``config``."""
        if self.last.exists() or self.metrics.exists():
            if overwrite:
                self.clear()
            else:
                self.check_resumable(config, defaults)
                print(f"resuming the run in {self.path} (pass --overwrite true to start it anew)")
        self.path.mkdir(parents=True, exist_ok=True)
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))


class RunLocked(Locked):
    """Another process writes the run directory ``path``; ``holder`` says which (pid and host)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(
            path / ".lock",
            f"{path} is in use by another process ({holder}): one process writes a run directory at a time; "
            "wait for it to end, or stop it and run this again (the run resumes where it stopped)",
        )


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def plain_config(**values: Any) -> dict[str, Any]:
    """Settings as plain YAML-able values (dataclasses as dicts, paths and other objects as strings): what
    ``config.yaml`` holds and :meth:`RunDir.check_resumable` compares."""
    return json.loads(
        json.dumps({k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in values.items()}, default=str)
    )


def setting_defaults(**values: Any) -> dict[str, Any]:
    """The default of every field of the dataclass settings among ``values``, flattened and as plain values like a
    saved config (``{"data.normalise": "imagenet", ...}``)."""
    defaults = {
        f"{key}.{field.name}": field.default
        for key, value in values.items()
        if is_dataclass(value)
        for field in fields(value)
        if field.default is not MISSING
    }
    return json.loads(json.dumps(defaults, default=str))
