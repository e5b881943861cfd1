"""Runs that end cleanly: a checkpoint on SIGTERM/SIGINT (cluster preemption, Ctrl-C), a stop on non-finite numbers."""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import torch

#: The signals a cluster scheduler (SIGTERM) or a terminal (SIGINT) sends to stop a job.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
    """Training stopped on a signal after writing ``checkpoint``; running the same run again resumes it."""

    def __init__(self, signum: int, step: int, checkpoint: Path) -> None:
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        super().__init__(f"stopped by {signal.Signals(signum).name} after step {step}; {checkpoint} saved")


class TrainingDiverged(FloatingPointError):
    """A non-finite loss or gradient: the run stops before the optimizer applies it."""


class StopRequests:
    """The first stop signal received (``signum``), or None; set by the handlers of :func:`stop_requests`."""

    def __init__(self) -> None:
        self.signum: int | None = None


@contextmanager
def stop_requests() -> Iterator[StopRequests]:
    """Catch SIGTERM/SIGINT while training: the first one is recorded and the step in progress finishes, so
    the trainer can checkpoint it; a second one acts as usual (the previous handlers are back by then).

    Outside the main thread (where Python cannot install handlers) nothing is caught.
    """
    requests = StopRequests()
    if threading.current_thread() is not threading.main_thread():
        yield requests
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def record(signum: int, frame: FrameType | None) -> None:
        requests.signum = signum
        for number, handler in previous.items():
            signal.signal(number, handler)

    for signum in STOP_SIGNALS:
        signal.signal(signum, record)
    try:
        yield requests
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check_finite(step: int, loss: torch.Tensor, grad_norm: torch.Tensor, last_good: Path) -> None:
    """Raise :class:`TrainingDiverged` naming the step when the loss or the gradient norm is not finite."""
    loss_value, norm_value = float(loss.detach()), float(grad_norm)
    if math.isfinite(loss_value) and math.isfinite(norm_value):
        return
    kept = f"the last good checkpoint {last_good} is kept" if last_good.exists() else "no checkpoint was written yet"
    raise TrainingDiverged(
        f"step {step}: loss {loss_value}, gradient norm {norm_value}: training diverged and stopped before the "
        f"update; {kept}. Lower optim.lr or set optim.grad_clip (e.g. 1.0), then resume or start anew"
    )
