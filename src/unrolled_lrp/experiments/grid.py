"""The experiment grid of a study: classifier pre-training once per encoder, then every (encoder, label
regime, seed, model) run trained and evaluated (:mod:`unrolled_lrp.runs`), each in its own run directory.

Run directory layout (the report reads it)::

    RUN_ROOT/grid.yaml                                  the resolved grid (``--grid`` can read it back)
    RUN_ROOT/timings.csv                                run_dir (relative to RUN_ROOT), seconds
    RUN_ROOT/{encoder}/pretrain/                        pre-training: classifier.pt, metrics.json (val.f1), ...
    RUN_ROOT/{encoder}/n{num_pixel}/seed{seed}/{model}/ training + evaluation (``RunKey.path``): config.yaml,
                                                        metrics.json, val_metrics.json, best.pt, last.pt, log.csv, ...

A run with ``val_metrics.json`` is finished and skipped; any other is trained (resuming from ``last.pt``) and
evaluated. Several processes share a grid through ``shard`` ("I/N": the runs whose plan index is I mod N);
shared steps (the synthetic dataset, pre-training) are done by the first process that needs them, under a
file lock the others wait on. The kernel releases the lock when its holder dies, so it never goes stale.
"""

from __future__ import annotations

import csv
import fcntl
import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import IO

import yaml
from jsonargparse import ArgumentError, ArgumentParser

from unrolled_lrp import runs
from unrolled_lrp.data.classes import VOC, ClassSet
from unrolled_lrp.data.options import NonNegativeInt, PositiveInt, Seed, check_ranges
from unrolled_lrp.data.pipeline import DataConfig
from unrolled_lrp.data.synth import write_synthetic_voc
from unrolled_lrp.models import list_models, supported_architectures
from unrolled_lrp.runs import RunDir, RunKey, plain_config, pretraining_dir
from unrolled_lrp.training.trainer import TrainConfig

#: The grid's axes; every other setting is shared by all runs of a run root.
AXES = ("encoders", "regimes", "seeds", "models")


@dataclass(frozen=True)
class SynthConfig:
    """A synthetic VOC-layout dataset (:func:`~unrolled_lrp.data.synth.write_synthetic_voc`), written to
    ``data.root`` before the first run when missing, so that a study on it is one command.

    Args:
        num_pixel_train: Pixel-labelled training images (the pool the regimes draw from).
        num_val: Evaluation images.
        num_image_level: Training images with image-level labels only.
        image_size: Long side of the images in pixels.
        seed: Seed of the dataset (fixed: every run sees the same images).
        classes: Class names, background first; None: the 21 VOC classes.
    """

    num_pixel_train: PositiveInt = 40
    num_val: PositiveInt = 30
    num_image_level: NonNegativeInt = 150
    image_size: PositiveInt = 64
    seed: Seed = 0
    classes: list[str] | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "grid.synth")
        classes = VOC if self.classes is None else ClassSet.from_names(self.classes)  # checks the names
        if self.num_pixel_train < len(classes.foreground):
            raise ValueError(
                f"grid.synth.num_pixel_train must be at least the {len(classes.foreground)} foreground classes "
                f"(one image each), got {self.num_pixel_train}"
            )


@dataclass(frozen=True)
class GridConfig:
    """An experiment grid: every combination of encoder, regime, seed and model is one run.

    Args:
        data: Dataset settings shared by every run; ``num_pixel`` and ``seed`` are set per run.
        encoders: Classifier architectures (torchvision names, e.g. resnet50, vgg16_bn).
        regimes: Numbers of pixel-labelled training images.
        seeds: Seeds of the repetitions: decoder initialisation, augmentation, and the regime unless regime_seed.
        models: Segmentation models (unrolled_lrp, unet, mt_unet, ws_ae, fcn).
        train: Segmentation training settings (``seed`` and ``device`` are set per run).
        pretrain: Classifier pre-training on image-level labels, once per encoder with seed 0; every run of
            the encoder starts from this classifier (the paper initialises all models identically).
        weights: Classifier initialisation before pre-training: "imagenet" (local torchvision cache) or None.
        model_args: Extra options per model name, e.g. ``{unrolled_lrp: {rule: epsilon}}``.
        regime_seed: Seed of the regime, hold-out split and batch order of every run; None: the run's seed.
        synth: Write this synthetic dataset to ``data.root`` first if it is missing; ``data.classes`` then
            defaults to its ``classes.yaml``.
    """

    data: DataConfig
    encoders: list[str]
    regimes: list[PositiveInt]
    models: list[str]
    seeds: list[Seed] = field(default_factory=lambda: [0])
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: TrainConfig = field(default_factory=lambda: TrainConfig(lr=1e-4, steps=1000, eval_every=1000))
    weights: str | None = None
    model_args: dict[str, dict] = field(default_factory=dict)
    regime_seed: Seed | None = None
    synth: SynthConfig | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "grid")


@dataclass(frozen=True)
class GridRun:
    """One run of the plan; ``index`` is its position in the whole plan (the shard key)."""

    index: int
    key: RunKey
    run: RunDir


def load_grid(path: Path) -> GridConfig:
    """Read and check a grid YAML file; unknown keys, wrong types, unknown models or encoders raise a
    ValueError naming them and the file."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--grid", type=GridConfig)
    try:
        grid = parser.instantiate(parser.parse_object({"grid": yaml.safe_load(Path(path).read_text())})).grid
    except ArgumentError as error:
        raise ValueError(f"{path}: {error}") from None
    return check_grid(grid)


def _require_known(kind: str, names: list[str], known: list[str]) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown {kind} {', '.join(map(repr, unknown))} in the grid; choose from {known}")


def check_grid(grid: GridConfig) -> GridConfig:
    """Fail before hours of training on a name that only the last run would use; resolve ``data.classes``
    of a synthetic dataset."""
    _require_known("model", [*grid.models, *grid.model_args], list_models())
    _require_known("encoder", grid.encoders, supported_architectures())
    for axis in AXES:
        values = getattr(grid, axis)
        if not values or len(set(values)) != len(values):
            raise ValueError(f"grid.{axis} must be a non-empty list without repeats, got {values}")
    per_run = {
        "data.num_pixel": grid.data.num_pixel,
        "data.seed": grid.data.seed or None,
        "train.seed": grid.train.seed or None,
        "pretrain.seed": grid.pretrain.seed or None,
    }
    if any(value is not None for value in per_run.values()):
        raise ValueError(
            f"{', '.join(key for key, value in per_run.items() if value is not None)}: set per run by "
            "the grid (regimes, seeds, regime_seed); leave out of the config"
        )
    if grid.synth is not None and grid.data.classes is None:
        return replace(grid, data=replace(grid.data, classes=grid.data.root / "classes.yaml"))
    return grid


def plan(grid: GridConfig, run_root: Path) -> list[GridRun]:
    """Every run of the grid, encoder-major so that a process pre-trains one encoder before the next."""
    combinations = itertools.product(grid.encoders, grid.regimes, grid.seeds, grid.models)
    keys = (RunKey(*combination) for combination in combinations)
    return [GridRun(index, key, RunDir(key.path(run_root))) for index, key in enumerate(keys)]


def shard_of(spec: str) -> tuple[int, int]:
    """``"I/N"`` as (I, N), checked."""
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"shard must look like I/N (e.g. 0/4), got {spec!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"shard {spec!r}: need 0 <= I < N")
    return index, count


def _plain(grid: GridConfig) -> dict:
    """The grid as YAML-safe data (paths as strings) that ``load_grid`` reads back."""
    return plain_config(grid=grid)["grid"]


def _settings(plain: dict) -> dict:
    """What every run of a run root shares: everything but the axes (which may grow) and the device."""
    shared = {key: value for key, value in plain.items() if key not in AXES}
    return {**shared, "train": {**shared["train"], "device": None}, "pretrain": {**shared["pretrain"], "device": None}}


def _write_grid_file(grid: GridConfig, run_root: Path) -> None:
    """``RUN_ROOT/grid.yaml``; refuses a run root whose runs were made with other shared settings, whose
    results would otherwise be mixed silently."""
    path = run_root / "grid.yaml"
    if path.exists() and _settings(yaml.safe_load(path.read_text())) != _settings(_plain(grid)):
        raise ValueError(
            f"{path} holds runs with other settings than this grid (only {', '.join(AXES)} and the "
            "device may change): use another run root"
        )
    tmp = path.with_name(f".grid.{os.getpid()}.yaml")
    tmp.write_text(yaml.safe_dump(_plain(grid), sort_keys=False))
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    """``path`` opened for appending under an exclusive lock, held until the block ends or the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process holding {path}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


def _once(lock: Path, done: Callable[[], bool], work: Callable[[], object]) -> None:
    """Run ``work`` unless ``done()``; of several processes only one works, the others wait for it."""
    if done():
        return
    with _locked(lock):
        if not done():
            work()


def _record(run_root: Path, run_dir: Path, seconds: float) -> None:
    """Append a row to ``RUN_ROOT/timings.csv`` (the header first in a new file)."""
    path = run_root / "timings.csv"
    with _locked(path) as handle:
        writer = csv.writer(handle)
        if path.stat().st_size == 0:
            writer.writerow(["run_dir", "seconds"])
        writer.writerow([run_dir.relative_to(run_root).as_posix(), f"{seconds:.1f}"])


def _timed(run_root: Path, run_dir: Path, work: Callable[[], dict]) -> dict:
    """``work()``, its wall time printed and recorded."""
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    _record(run_root, run_dir, seconds)
    print(f"  {run_dir.relative_to(run_root)}: {seconds:.1f} s")
    return result


def _write_synth(grid: GridConfig, synth: SynthConfig) -> None:
    """The synthetic dataset, unless ``data.root`` already holds it (``classes.yaml`` is written last)."""
    root = grid.data.root
    settings = {key: value for key, value in asdict(synth).items() if value is not None}
    _once(
        root.with_name(f"{root.name}.lock"),
        (root / "classes.yaml").exists,
        lambda: write_synthetic_voc(root, **settings),
    )


def _pretrained(grid: GridConfig, run_root: Path, encoder: str, device: str) -> Path:
    """The encoder's pre-trained classifier, pre-training it first (seed 0) if no process has yet."""
    run = pretraining_dir(run_root, encoder)
    data = replace(grid.data, num_pixel=None, seed=0)
    optim = replace(grid.pretrain, seed=0, device=device)

    def work() -> dict:
        print(f"pre-training {encoder} -> {run.path}")
        return _timed(
            run_root, run.path, lambda: runs.pretrain(data, optim, run.path, arch=encoder, weights=grid.weights)
        )

    _once(run_root / encoder / "pretrain.lock", lambda: run.status == "finished", work)
    return run.classifier


def _train_and_eval(grid: GridConfig, planned: GridRun, classifier: Path, device: str) -> dict:
    """Train one run (resumed from ``last.pt``, else started afresh), then evaluate it."""
    key, run = planned.key, planned.run
    if run.status == "todo":  # nothing to resume: drop what an attempt killed before its first checkpoint left
        shutil.rmtree(run.path, ignore_errors=True)
    data = replace(grid.data, num_pixel=key.num_pixel, seed=key.seed if grid.regime_seed is None else grid.regime_seed)
    runs.train(
        data,
        replace(grid.train, seed=key.seed, device=device),
        run.path,
        model=key.model,
        arch=key.encoder,
        classifier_checkpoint=classifier,
        model_args=grid.model_args.get(key.model),
    )
    metrics, _ = runs.evaluate_run(data, run.path, device)
    return metrics


def _print_plan(grid: GridConfig, run_root: Path, planned: list[GridRun]) -> None:
    for encoder in grid.encoders:
        pretraining = pretraining_dir(run_root, encoder)
        status = "finished" if pretraining.status == "finished" else "todo"
        print(f"pretrain {encoder:<10} {status:<8} {pretraining.path}")
    print(f"{'#':>4} {'encoder':<10} {'regime':>6} {'seed':>4} {'model':<13} {'status':<8} directory")
    for item in planned:
        key = item.key
        print(
            f"{item.index:>4} {key.encoder:<10} {key.num_pixel:>6} {key.seed:>4} {key.model:<13} "
            f"{item.run.status:<8} {item.run.path}"
        )
    counts = {status: sum(item.run.status == status for item in planned) for status in ("finished", "partial", "todo")}
    print(f"{len(planned)} runs: " + ", ".join(f"{count} {status}" for status, count in counts.items()))


def run_grid(
    grid: GridConfig, run_root: Path, shard: str = "0/1", device: str | None = None, dry_run: bool = False
) -> list[GridRun]:
    """Train and evaluate this shard's unfinished runs; returns them (with ``dry_run``: those it would run).

    Args:
        grid: the checked grid (:func:`load_grid`).
        run_root: folder of the study (layout in the module docstring).
        shard: "I/N": only the runs whose plan index is I mod N.
        device: "cpu" or "cuda" for pre-training, training and evaluation; None: ``grid.train.device``.
        dry_run: print the plan with each run's status and run nothing.
    """
    index, count = shard_of(shard)
    planned = [item for item in plan(grid, run_root) if item.index % count == index]
    _print_plan(grid, run_root, planned)
    todo = [item for item in planned if item.run.status != "finished"]
    if dry_run:
        return todo
    device = device or grid.train.device
    run_root.mkdir(parents=True, exist_ok=True)
    _write_grid_file(grid, run_root)
    if grid.synth is not None:
        _write_synth(grid, grid.synth)
    start = time.perf_counter()
    for number, item in enumerate(todo, 1):
        key = item.key
        classifier = _pretrained(grid, run_root, key.encoder, device)
        print(
            f"[{number}/{len(todo)}] {key.encoder} n{key.num_pixel} seed{key.seed} {key.model} ({item.run.status}) "
            f"-> {item.run.path}"
        )
        metrics = _timed(run_root, item.run.path, partial(_train_and_eval, grid, item, classifier, device))
        print(f"  val mIoU {100 * metrics['miou']:.2f}; {time.perf_counter() - start:.0f} s since start")
    return todo
