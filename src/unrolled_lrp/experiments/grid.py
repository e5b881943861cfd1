"""The experiment grid of a study: classifier pre-training once per encoder, then every (encoder, label
regime, seed, model) run trained and evaluated (:mod:`unrolled_lrp.runs`), each in its own run directory.

The run root's layout (``grid.yaml``, ``timings.csv``, a pre-training per encoder, a run directory per
:class:`~unrolled_lrp.experiments.layout.RunKey`): ARCHITECTURE.md, "A run directory". A finished run is skipped; any
other is trained (resuming from ``last.pt``) and evaluated.

Any number of processes share a grid (:func:`run_grid`, on one machine or several over a shared filesystem): a
process trains a run while it holds the run directory's lock (:meth:`RunDir.lock`), skips the runs that others hold,
and takes over a run whose holder died (the operating system releases a dead process's lock). Shared steps (the
synthetic dataset, an encoder's pre-training, ``timings.csv``) are done under a lock the others wait on.
"""

from __future__ import annotations

import csv
import itertools
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ArgumentError, ArgumentParser

from unrolled_lrp import runs
from unrolled_lrp.data.options import PositiveInt, Seed, check_ranges
from unrolled_lrp.data.pipeline import DataConfig
from unrolled_lrp.data.synth import SynthConfig, write_synthetic_voc
from unrolled_lrp.lrp import LRPConfig
from unrolled_lrp.models import display_name, list_models, supported_architectures, takes_lrp
from unrolled_lrp.runs import RunDir, Status, check_model_args, plain_config
from unrolled_lrp.runs.lock import exclusive
from unrolled_lrp.runs.rundir import RunLocked
from unrolled_lrp.training.trainer import TrainConfig

from .layout import RunKey, pretraining_dir

#: The grid's axes; every other setting is shared by all runs of a run root.
AXES = ("encoders", "regimes", "seeds", "models")


@dataclass(frozen=True)
class Variant:
    """A named model of a grid: a registered model with options of its own. Its name, listed in ``models``, names
    its run directories and its report row.

    Args:
        model: The registered model it trains (unrolled_lrp, ws_ae, unet, mt_unet, fcn).
        lrp: LRP options over the grid's ``lrp``, e.g. ``{composite: epsilon_gamma_box}`` (models that decode
            heatmaps only).
        model_args: Model options over the grid's ``model_args`` of ``model``, e.g. ``{heatmap_scale: 1.0}``.
        optim: Training settings over the grid's ``optim``, e.g. ``{lr: 1.0e-2}`` for the readout-only control,
            whose 30 parameters barely move at an encoder's learning rate (``seed`` and ``device`` stay per run).
        display: Its name in the report; default: the variant's name.
    """

    model: str
    lrp: dict[str, Any] = field(default_factory=dict)
    model_args: dict[str, Any] = field(default_factory=dict)
    optim: dict[str, Any] = field(default_factory=dict)
    display: str | None = None


@dataclass(frozen=True)
class GridConfig:
    """An experiment grid: every combination of encoder, regime, seed and model is one run.

    Args:
        data: Dataset settings shared by every run; ``num_pixel`` and ``seed`` are set per run.
        encoders: Classifier architectures (torchvision names, e.g. resnet50, vgg16_bn).
        regimes: Numbers of pixel-labelled training images.
        seeds: Seeds of the repetitions: decoder initialisation, augmentation, and the regime unless regime_seed.
        models: Segmentation models (unrolled_lrp, unet, mt_unet, ws_ae, fcn) or names of ``variants``.
        optim: Segmentation training settings (``seed`` and ``device`` are set per run).
        pretrain_optim: Classifier pre-training on image-level labels, once per encoder with seed 0; every run
            of the encoder starts from this classifier (the paper initialises all models identically).
        weights: Classifier initialisation before pre-training: "imagenet" (local torchvision cache) or None.
        model_args: Extra options per model name, e.g. ``{unrolled_lrp: {heatmap_scale: 1.0}}``.
        lrp: LRP options of every model that decodes heatmaps (unrolled_lrp, ws_ae, their variants); zB bounds left
            unset are the range of the data after normalisation.
        variants: Named models with options of their own, e.g. ``{unrolled_gamma: {model: unrolled_lrp, lrp:
            {composite: epsilon_gamma_box}}}``; list a name in ``models`` to train it.
        regime_seed: Seed of the regime, hold-out split and batch order of every run; None: the run's seed.
        synth: Write this synthetic dataset to ``data.root`` first if it is missing; ``data.classes`` then
            defaults to its ``classes.yaml``.
    """

    data: DataConfig
    encoders: list[str]
    regimes: list[PositiveInt]
    models: list[str]
    seeds: list[Seed] = field(default_factory=lambda: [0])
    optim: TrainConfig = field(default_factory=TrainConfig)
    pretrain_optim: TrainConfig = field(default_factory=lambda: TrainConfig(lr=1e-4, steps=1000, eval_every=1000))
    weights: str | None = None
    model_args: dict[str, dict] = field(default_factory=dict)
    lrp: LRPConfig = field(default_factory=LRPConfig)
    variants: dict[str, Variant] = field(default_factory=dict)
    regime_seed: Seed | None = None
    synth: SynthConfig | None = None

    def __post_init__(self) -> None:
        check_ranges(self, "grid")


@dataclass(frozen=True)
class Method:
    """What a run directory of the grid trains: its ``name`` (a registered model, or a variant of the grid), the
    registered ``model`` it builds with ``model_args`` and ``lrp`` (None for models without heatmaps), its
    ``display`` name in the report, and the training settings ``optim`` it trains with."""

    name: str
    model: str
    display: str
    model_args: dict[str, Any] | None = None
    lrp: LRPConfig | None = None
    optim: TrainConfig | None = None  # None: a report row of runs outside the grid


def method(grid: GridConfig, name: str) -> Method:
    """The method a name of ``grid.models`` stands for: a variant with its options over the grid's, or a model
    with the grid's. A ValueError names the variant whose options do not fit."""
    variant = grid.variants.get(name, Variant(model=name))
    model_args = {**grid.model_args.get(variant.model, {}), **variant.model_args} or None
    display = variant.display or (name if name in grid.variants else display_name(name))
    optim = _variant_options(grid.optim, variant.optim, f"grid.variants.{name}.optim", per_run=("seed", "device"))
    if not takes_lrp(variant.model):
        if variant.lrp:
            raise ValueError(f"grid.variants.{name}.lrp: model {variant.model!r} decodes no heatmaps")
        return Method(name, variant.model, display, model_args, optim=optim)
    lrp = _variant_options(grid.lrp, variant.lrp, f"grid.variants.{name}.lrp")
    return Method(name, variant.model, display, model_args, lrp, optim)


def _variant_options(shared: Any, options: dict[str, Any], where: str, per_run: tuple[str, ...] = ()) -> Any:
    """The grid's ``shared`` settings (a dataclass) with a variant's ``options`` over them; a ValueError names
    ``where`` and the field that does not fit."""
    fixed = sorted(set(options) & set(per_run))
    if fixed:
        raise ValueError(f"{where} {options}: {fixed} are set per run")
    try:
        return replace(shared, **options)
    except (TypeError, ValueError) as error:  # an unknown field, or a value the dataclass refuses
        raise ValueError(f"{where} {options}: {error}") from None


def grid_methods(run_root: Path) -> list[Method]:
    """The methods of the grid whose runs are under ``run_root``, in its order; none without ``grid.yaml``."""
    path = run_root / "grid.yaml"
    if not path.is_file():
        return []
    grid = load_grid(path)
    return [method(grid, name) for name in grid.models]


@dataclass(frozen=True)
class GridRun:
    """One run of the plan; ``index`` is its position in the whole plan."""

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


def _check_variants(grid: GridConfig) -> None:
    """Variants are new names for registered models, each with options that fit it."""
    shadowing = sorted(set(grid.variants) & set(list_models()))
    if shadowing:
        raise ValueError(f"grid.variants {shadowing} are names of registered models; give each variant its own name")
    _require_known("model", [variant.model for variant in grid.variants.values()], list_models())
    _require_known("model", grid.models, [*list_models(), *grid.variants])  # a variant is a model of the grid
    for name in grid.models:
        check_model_args(method(grid, name).model_args or {})


def check_grid(grid: GridConfig) -> GridConfig:
    """Fail before hours of training on a name or an option that only the last run would use; resolve
    ``data.classes`` of a synthetic dataset."""
    _require_known("model", list(grid.model_args), list_models())
    _check_variants(grid)
    _require_known("encoder", grid.encoders, supported_architectures())
    for axis in AXES:
        values = getattr(grid, axis)
        if not values or len(set(values)) != len(values):
            raise ValueError(f"grid.{axis} must be a non-empty list without repeats, got {values}")
    per_run = {
        "data.num_pixel": grid.data.num_pixel,
        "data.seed": grid.data.seed or None,
        "optim.seed": grid.optim.seed or None,
        "pretrain_optim.seed": grid.pretrain_optim.seed or None,
    }
    if any(value is not None for value in per_run.values()):
        raise ValueError(
            f"{', '.join(key for key, value in per_run.items() if value is not None)}: set per run by "
            "the grid (regimes, seeds, regime_seed); leave out of the config"
        )
    if grid.synth is not None and grid.data.classes is None:
        return replace(grid, data=replace(grid.data, classes=grid.data.root / "classes.yaml"))
    return grid


def plan(grid: GridConfig, *, run_root: Path) -> list[GridRun]:
    """Every run of the grid, encoder-major so that a process pre-trains one encoder before the next."""
    combinations = itertools.product(grid.encoders, grid.regimes, grid.seeds, grid.models)
    keys = (RunKey(*combination) for combination in combinations)
    return [GridRun(index, key, RunDir(key.path(run_root))) for index, key in enumerate(keys)]


def _plain(grid: GridConfig) -> dict:
    """The grid as YAML-safe data (paths as strings) that ``load_grid`` reads back."""
    return plain_config(grid=grid)["grid"]


def _settings(plain: dict) -> dict:
    """What every run of a run root shares: everything but the axes and the variants (which may grow), and the
    device; the variants both grids name must be the same."""
    shared = {key: value for key, value in plain.items() if key not in (*AXES, "variants")}
    return {
        **shared,
        "optim": {**shared["optim"], "device": None},
        "pretrain_optim": {**shared["pretrain_optim"], "device": None},
    }


def _same_runs(saved: dict, new: dict) -> bool:
    """Whether a grid ``new`` computes the runs of ``saved`` (both plain) as ``saved`` did."""
    old_variants, new_variants = saved.get("variants") or {}, new.get("variants") or {}
    common = old_variants.keys() & new_variants.keys()
    # as Variants, so that a field added since (with its default) does not count as a change
    same = all(Variant(**old_variants[n]) == Variant(**new_variants[n]) for n in common)
    return _settings(saved) == _settings(new) and same


def _write_grid_file(grid: GridConfig, run_root: Path) -> None:
    """``RUN_ROOT/grid.yaml``; refuses a run root whose runs were made with other shared settings, whose
    results would otherwise be mixed silently."""
    path = run_root / "grid.yaml"
    if path.exists() and not _same_runs(yaml.safe_load(path.read_text()), _plain(grid)):
        raise ValueError(
            f"{path} holds runs with other settings than this grid (only {', '.join(AXES)}, new variants and the "
            "device may change): use another run root"
        )
    tmp = path.with_name(f".grid.{os.getpid()}.yaml")
    tmp.write_text(yaml.safe_dump(_plain(grid), sort_keys=False))
    os.replace(tmp, path)


def _record(run_root: Path, run_dir: Path, seconds: float) -> None:
    """Append a row to ``RUN_ROOT/timings.csv`` (the header first in a new file)."""
    path = run_root / "timings.csv"
    with exclusive(path, wait=True) as handle:
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
    """The synthetic dataset, unless ``data.root`` already holds it (``classes.yaml`` is written last); of several
    processes one writes it while the others wait."""
    root = grid.data.root
    if (root / "classes.yaml").exists():
        return
    with exclusive(root.with_name(f"{root.name}.lock"), wait=True):
        if not (root / "classes.yaml").exists():
            write_synthetic_voc(root, synth)


def _pretrained(grid: GridConfig, run_root: Path, encoder: str, device: str) -> Path:
    """The encoder's pre-trained classifier, pre-training it first (seed 0) if no process has yet, or taking over a
    pre-training whose process died."""
    run = pretraining_dir(run_root, encoder)
    data = replace(grid.data, num_pixel=None, seed=0)
    optim = replace(grid.pretrain_optim, seed=0, device=device)

    def work() -> dict:
        print(f"pre-training {encoder} -> {run.path}")
        return _timed(
            run_root,
            run.path,
            lambda: runs.pretrain(data, optim=optim, arch=encoder, weights=grid.weights, out_dir=run.path),
        )

    if run.status != Status.FINISHED:
        with run.lock(wait=True):  # another process pre-training it: wait for its classifier
            if run.status != Status.FINISHED:
                work()
    return run.classifier


def _train_and_eval(grid: GridConfig, planned: GridRun, classifier: Path, device: str) -> dict:
    """Train one run (resumed from ``last.pt``, else started afresh), then evaluate it."""
    key, run = planned.key, planned.run
    if run.status == Status.TODO:  # nothing to resume: drop what an attempt killed before its first checkpoint left
        run.clear()
    data = replace(grid.data, num_pixel=key.num_pixel, seed=key.seed if grid.regime_seed is None else grid.regime_seed)
    trained = method(grid, key.model)
    runs.train(
        data,
        optim=replace(trained.optim or grid.optim, seed=key.seed, device=device),
        model=trained.model,
        arch=key.encoder,
        classifier_checkpoint=classifier,
        model_args=trained.model_args,
        lrp=trained.lrp,
        out_dir=run.path,
    )
    metrics, _ = runs.evaluate_run(data, run_dir=run.path, device=device)
    return metrics


def _print_plan(grid: GridConfig, run_root: Path, planned: list[GridRun]) -> None:
    for encoder in grid.encoders:
        pretraining = pretraining_dir(run_root, encoder)
        status = Status.FINISHED if pretraining.status == Status.FINISHED else Status.TODO
        print(f"pretrain {encoder:<10} {status:<8} {pretraining.path}")
    print(f"{'#':>4} {'encoder':<10} {'regime':>6} {'seed':>4} {'model':<13} {'status':<8} directory")
    for item in planned:
        key, holder = item.key, item.run.held_by()
        print(
            f"{item.index:>4} {key.encoder:<10} {key.num_pixel:>6} {key.seed:>4} {key.model:<13} "
            f"{item.run.status:<8} {item.run.path}" + (f"  (running: {holder})" if holder else "")
        )
    counts = {status: sum(item.run.status == status for item in planned) for status in Status}
    print(f"{len(planned)} runs: " + ", ".join(f"{count} {status}" for status, count in counts.items()))


def _unfinished(planned: list[GridRun]) -> list[GridRun]:
    return [item for item in planned if item.run.status != Status.FINISHED]


def _take(grid: GridConfig, run_root: Path, item: GridRun, device: str, *, wait: bool) -> bool:
    """Train and evaluate ``item`` while holding its run directory, unless another process holds it (with ``wait``:
    until that process ends) or it is finished by then; whether this process did."""
    with ExitStack() as held:
        try:
            held.enter_context(item.run.lock(wait=wait))
        except RunLocked:
            return False
        if item.run.status == Status.FINISHED:
            return False
        key = item.key
        classifier = _pretrained(grid, run_root, key.encoder, device)
        print(f"{key.encoder} n{key.num_pixel} seed{key.seed} {key.model} ({item.run.status}) -> {item.run.path}")
        metrics = _timed(run_root, item.run.path, partial(_train_and_eval, grid, item, classifier, device))
        print(f"  val mIoU {100 * metrics['miou']:.2f}")
        return True


def run_grid(grid: GridConfig, *, run_root: Path, device: str | None = None, dry_run: bool = False) -> list[GridRun]:
    """Train and evaluate the unfinished runs of the grid, sharing them with every other process that runs this grid
    on ``run_root`` (see the module docstring); returns the runs this process trained (with ``dry_run``: the
    unfinished ones).

    A process takes the runs that no other holds, in plan order; once every run left is held by others it waits for
    one of them, and trains it if its holder died before finishing it. It returns when every run is finished, and
    then writes the report (``RUN_ROOT/report``, as ``ulrp report``): the last process to finish writes it last.

    Args:
        grid: the checked grid (:func:`load_grid`).
        run_root: folder of the study (layout in the module docstring).
        device: "cpu" or "cuda" for pre-training, training and evaluation; None: ``grid.optim.device``.
        dry_run: print the plan with each run's status (and the process running it) and run nothing.
    """
    planned = plan(grid, run_root=run_root)
    _print_plan(grid, run_root, planned)
    if dry_run:
        return _unfinished(planned)
    device = device or grid.optim.device
    run_root.mkdir(parents=True, exist_ok=True)
    _write_grid_file(grid, run_root)
    if grid.synth is not None:
        _write_synth(grid, grid.synth)
    trained: list[GridRun] = []
    while unfinished := _unfinished(planned):
        taken = [item for item in unfinished if _take(grid, run_root, item, device, wait=False)]
        if not taken and _take(grid, run_root, unfinished[0], device, wait=True):  # all held: wait for one
            taken = [unfinished[0]]
        trained += taken
    from .report import write_report  # here: the report reads the grid's methods from this module

    with exclusive(run_root / "report.lock", wait=True):
        write_report(run_root)
    print(f"every run of the grid is finished; report: {run_root / 'report'}")
    return trained
