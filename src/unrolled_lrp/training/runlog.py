"""What a run reports while it trains: CSV log rows, TensorBoard scalars and the pace of the input pipeline."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class Pace:
    """Images per second and the share of wall time spent waiting for the next batch, since the (re)start."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.images = 0
        self.waiting = 0.0

    def add(self, images: int, waited: float) -> None:
        """Count one step of ``images`` images whose batch took ``waited`` seconds to arrive."""
        self.images += images
        self.waiting += waited

    @property
    def images_per_second(self) -> float:
        return self.images / max(time.perf_counter() - self.started, 1e-9)

    @property
    def data_wait_share(self) -> float:
        """Near 0 when the DataLoader workers keep up with the training step; near 1 when the step starves."""
        return self.waiting / max(time.perf_counter() - self.started, 1e-9)


def truncate_log(log: Path, step: int) -> None:
    """Drop the log rows written after the checkpoint a run resumes from: they are about to be redone."""
    if log.exists():
        with log.open(newline="") as file:
            rows = [row for row in csv.reader(file) if row and int(row[0]) <= step]
        with log.open("w", newline="") as file:
            csv.writer(file).writerows(rows)


class RunLog:
    """CSV rows in ``log`` (step, loss, seg_loss, cls_loss) and TensorBoard scalars in ``tensorboard`` of the main
    process; a no-op in the others. On resume both drop what was logged after the checkpoint (TensorBoard's
    ``purge_step``)."""

    def __init__(self, log: Path, tensorboard: Path, resumed_step: int, enabled: bool) -> None:
        self.log = log
        self.writer: SummaryWriter | None = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter  # imported by the process that writes only

            truncate_log(log, resumed_step)
            self.writer = SummaryWriter(tensorboard, purge_step=resumed_step + 1 if resumed_step else None)

    def __enter__(self) -> RunLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.writer is not None:
            self.writer.close()

    def step(self, step: int, loss: float, parts: dict[str, float], lr: float, pace: Pace) -> None:
        """Losses, learning rate and pipeline pace after ``step`` steps."""
        if self.writer is None:
            return
        with self.log.open("a", newline="") as log:
            csv.writer(log).writerow([step, loss, parts.get("seg_loss", ""), parts.get("cls_loss", "")])
        scalars = {"loss/total": loss, **{f"loss/{k.removesuffix('_loss')}": v for k, v in parts.items()}}
        scalars |= {"lr": lr, "pace/images_per_s": pace.images_per_second, "pace/data_wait": pace.data_wait_share}
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def holdout(self, step: int, metrics: dict) -> None:
        """Hold-out mIoU of an evaluation (none when the run has no hold-out split)."""
        if self.writer is not None and "miou" in metrics:
            self.writer.add_scalar("holdout/miou", metrics["miou"], step)
