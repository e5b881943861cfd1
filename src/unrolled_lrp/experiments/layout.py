"""Where a study's runs sit under its run root: one run directory per (encoder, regime, seed, model), and one
pre-training per encoder. The layout is described once, in ARCHITECTURE.md ("A run directory")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unrolled_lrp.runs import RunDir


@dataclass(frozen=True, order=True)
class RunKey:
    """Where a run sits in a grid: ``RUN_ROOT/{encoder}/n{num_pixel}/seed{seed}/{model}``."""

    encoder: str
    num_pixel: int
    seed: int
    model: str

    def path(self, run_root: Path) -> Path:
        return run_root / self.encoder / f"n{self.num_pixel}" / f"seed{self.seed}" / self.model

    @classmethod
    def parse(cls, run_root: Path, path: Path) -> RunKey:
        """The key of a run directory under ``run_root``; ValueError if ``path`` is not laid out as one."""
        parts = Path(path).relative_to(run_root).parts
        if len(parts) != 4 or not parts[1].startswith("n") or not parts[2].startswith("seed"):
            raise ValueError(f"{path} is not a run directory RUN_ROOT/ENCODER/nN/seedS/MODEL of {run_root}")
        encoder, regime, seed, model = parts
        try:
            return cls(encoder, int(regime.removeprefix("n")), int(seed.removeprefix("seed")), model)
        except ValueError:
            raise ValueError(f"{path}: N and S of nN/seedS must be integers") from None

    @classmethod
    def find(cls, run_root: Path) -> list[RunKey]:
        """The keys of every run directory under ``run_root``, sorted."""
        keys = []
        for path in run_root.glob("*/n*/seed*/*"):
            try:
                keys.append(cls.parse(run_root, path))
            except ValueError:
                continue  # a folder of another layout (a report, a dataset) is no run
        return sorted(keys)


def pretraining_dir(run_root: Path, encoder: str) -> RunDir:
    """The grid's pre-training run of ``encoder``: ``RUN_ROOT/{encoder}/pretrain``."""
    return RunDir.pretraining(run_root / encoder / "pretrain")
