"""Advisory file locks that a dead process cannot leave behind: one process per run directory, and the steps that
the workers of a grid share (the synthetic dataset, an encoder's pre-training, ``timings.csv``).

``flock`` locks belong to the open file, so the operating system releases them when their holder exits, however
it exits (``kill -9`` included): no stale lock to clean up. On NFS (v4, or v3 with lockd) Linux turns them into
byte-range locks that other machines see, which lets the workers of a Slurm array share a run root.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


class Locked(RuntimeError):
    """Another process holds the lock on ``path``."""

    def __init__(self, path: Path, message: str | None = None) -> None:
        self.path = path
        super().__init__(message or f"{path} is locked by another process")


class _Held(threading.local):
    """The locks this thread holds, by absolute path, with their open files: taking one again nests, so that a grid
    worker that holds a run directory can call the workflows that lock it too. Other threads contend as other
    processes do (each opens the file anew, and ``flock`` locks belong to the open file)."""

    def __init__(self) -> None:
        self.files: dict[Path, IO[str]] = {}


_HELD = _Held()


@contextmanager
def exclusive(path: Path, *, wait: bool) -> Iterator[IO[str]]:
    """``path`` opened for appending under an exclusive lock until the block ends.

    Held by another process (or thread): wait for it to end (``wait``, saying so once) or raise :class:`Locked` at
    once. Held by this thread already: the block nests and the lock stays until the outer block ends.
    """
    key, held = path.absolute(), _HELD.files
    if key in held:
        yield held[key]
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise Locked(path) from None
            print(f"waiting for another process holding {path}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        held[key] = handle
        try:
            yield handle
        finally:
            del held[key]
