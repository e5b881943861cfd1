"""``ulrp reproduce``: a tiny grid end to end (its report written at the end), dry runs, resuming exactly the
damaged run, clear config errors. Several processes sharing a grid: test_workers.py."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest
import torch
import yaml

from tiny_runs import tiny_grid
from unrolled_lrp.cli.main import main
from unrolled_lrp.experiments.grid import _plain, _same_runs, _write_grid_file, load_grid, plan, run_grid
from unrolled_lrp.experiments.layout import RunKey
from unrolled_lrp.experiments.report import write_report

MODELS, REGIMES, SEEDS = ["unrolled_lrp", "unet"], [2, 4], [0, 1]  # those of tiny_grid
RUN_FILES = ("config.yaml", "metrics.json", "val_metrics.json", "best.pt", "last.pt", "log.csv")


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def timings(run_root: Path) -> list[str]:
    with (run_root / "timings.csv").open() as handle:
        return [row["run_dir"] for row in csv.DictReader(handle)]


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Every test here runs on one intra-op thread (see ``single_thread`` in tests/conftest.py)."""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny grid run through the CLI twice (the second finds nothing to do): (config file, run root)."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("grid")
    config, run_root = write_config(tmp / "grid.yaml", tiny_grid(tmp)), tmp / "runs"
    for _ in range(2):
        main(["reproduce", "--grid", str(config), "--run_root", str(run_root)])
    return config, run_root


def test_every_run_is_pretrained_trained_and_evaluated_in_the_documented_layout(study):
    config, run_root = study
    pretrain = run_root / "resnet18" / "pretrain"
    assert (pretrain / "classifier.pt").is_file()
    assert 0 <= yaml.safe_load((pretrain / "metrics.json").read_text())["val"]["f1"] <= 1
    runs = plan(load_grid(config), run_root=run_root)
    assert len(runs) == len(MODELS) * len(REGIMES) * len(SEEDS)
    for item in runs:
        key, run = item.key, item.run
        assert run.path == run_root / "resnet18" / f"n{key.num_pixel}" / f"seed{key.seed}" / key.model
        assert RunKey.parse(run_root, run.path) == key
        assert all((run.path / name).is_file() for name in RUN_FILES), run.path
        assert run.status == "finished"
        assert run.saved_config()["data"]["num_pixel"] == key.num_pixel
    assert load_grid(run_root / "grid.yaml") == load_grid(config)  # grid.yaml reads back as the same grid
    # pre-training first, then the runs in plan order, each once: the second invocation trained nothing
    expected = ["resnet18/pretrain"] + [item.run.path.relative_to(run_root).as_posix() for item in runs]
    assert timings(run_root) == expected
    assert (run_root / "report" / "tables.md").is_file()  # written when the last run finished


def test_dry_run_lists_every_run_with_its_status_and_runs_nothing(study, tmp_path, capsys):
    fresh = write_config(tmp_path / "grid.yaml", tiny_grid(tmp_path))
    main(["reproduce", "--grid", str(fresh), "--run_root", str(tmp_path / "runs"), "--dry_run", "true"])
    lines = capsys.readouterr().out.splitlines()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()  # no dataset, no run written
    for item in plan(load_grid(fresh), run_root=tmp_path / "runs"):
        assert sum(line.endswith(f" todo     {item.run.path}") for line in lines) == 1
    config, run_root = study
    run_grid(load_grid(config), run_root=run_root, dry_run=True)
    out = capsys.readouterr().out
    assert out.count(" finished ") == 1 + 8 and "8 runs: 8 finished, 0 partial, 0 todo" in out


def test_a_second_invocation_reruns_exactly_the_damaged_run(study):
    config, run_root = study
    damaged = run_root / "resnet18" / "n4" / "seed0" / "unet"
    for name in ("val_metrics.json", "best.pt", "last.pt"):
        (damaged / name).unlink()
    others = {
        item.run.path: item.run.val_metrics.stat().st_mtime_ns
        for item in plan(load_grid(config), run_root=run_root)
        if item.run.path != damaged
    }
    before = timings(run_root)
    trained = run_grid(load_grid(config), run_root=run_root)
    assert [item.run.path for item in trained] == [damaged]
    assert timings(run_root) == before + ["resnet18/n4/seed0/unet"]
    assert (damaged / "val_metrics.json").is_file()
    assert all((path / "val_metrics.json").stat().st_mtime_ns == mtime for path, mtime in others.items())


def test_an_evaluation_left_undone_is_done_without_retraining(study, capsys):
    config, run_root = study
    partial = run_root / "resnet18" / "n2" / "seed1" / "unrolled_lrp"
    (partial / "val_metrics.json").unlink()
    trained_at = (partial / "best.pt").stat().st_mtime_ns
    run_grid(load_grid(config), run_root=run_root, dry_run=True)
    assert f" partial  {partial}" in capsys.readouterr().out
    assert [item.run.path for item in run_grid(load_grid(config), run_root=run_root)] == [partial]
    assert (partial / "val_metrics.json").is_file() and (partial / "best.pt").stat().st_mtime_ns == trained_at


def test_the_report_of_the_grid_matches_its_runs_metrics_files(study):
    _, run_root = study
    write_report(run_root)
    with (run_root / "report" / "table1.csv").open() as handle:
        cells = {(row["method"], int(row["num_pixel"])): row for row in csv.DictReader(handle)}
    for model, method in (("unrolled_lrp", "unrolled LRP"), ("unet", "UNet")):
        for regime in REGIMES:
            mious = [
                100
                * json.loads(
                    (run_root / "resnet18" / f"n{regime}" / f"seed{seed}" / model / "val_metrics.json").read_text()
                )["miou"]
                for seed in SEEDS
            ]
            cell = cells[(method, regime)]
            assert int(cell["seeds"]) == len(SEEDS)
            assert float(cell["mean"]) == pytest.approx(statistics.mean(mious), abs=1e-4)
            assert float(cell["std"]) == pytest.approx(statistics.stdev(mious), abs=1e-4)


def test_a_run_root_refuses_other_shared_settings(study):
    config, run_root = study
    changed = tiny_grid(config.parent)
    changed["optim"]["lr"] = 1e-3
    with pytest.raises(ValueError, match="other settings"):
        run_grid(load_grid(write_config(config.parent / "changed.yaml", changed)), run_root=run_root)


def _variant(config: dict, variant: dict) -> None:
    """``config`` with ``variant`` named "v" and trained."""
    config.update(variants={"v": variant}, models=["unet", "v"])


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda c: c.update(models=["unet", "segformer"]), "segformer"),
        (lambda c: c.update(model_args={"unroled_lrp": {}}), "unroled_lrp"),
        (lambda c: c.update(encoders=["resnet7"]), "resnet7"),
        (lambda c: c["optim"].update(stepz=3), "stepz"),
        (lambda c: c["data"].update(crop=3), "crop"),
        (lambda c: c.update(bogus=1), "bogus"),
        (lambda c: c.update(regimes=[2, 2]), "regimes"),
        (lambda c: c["data"].update(seed=3), "data.seed: set per run"),
        (lambda c: c.update(models=["unet", "nothing"]), "unknown model 'nothing'"),
        (lambda c: c.update(variants={"unet": {"model": "unet"}}), r"\['unet'\] are names of registered models"),
        (lambda c: c.update(variants={"v": {"model": "segformer"}}), "unknown model 'segformer'"),
        (lambda c: c.update(lrp={"composite": "alpha"}), "lrp.composite"),
        (lambda c: c.update(model_args={"unrolled_lrp": {"composite": "epsilon"}}), "--lrp.composite"),
        (lambda c: _variant(c, {"model": "unrolled_lrp", "lrp": {"gama": 1}}), r"variants\.v\.lrp .*gama"),
        (lambda c: _variant(c, {"model": "unrolled_lrp", "lrp": {"composite": "alpha"}}), r"variants\.v\.lrp"),
        (lambda c: _variant(c, {"model": "unet", "lrp": {"composite": "epsilon"}}), "'unet' decodes no heatmaps"),
        (lambda c: _variant(c, {"model": "unet", "model_args": {"gamma": 1}}), "--lrp.gamma"),
        (lambda c: _variant(c, {"model": "unet", "optim": {"lrr": 1.0}}), r"variants\.v\.optim .*lrr"),
        (lambda c: _variant(c, {"model": "unet", "optim": {"steps": 0}}), r"variants\.v\.optim .*steps"),
        (lambda c: _variant(c, {"model": "unet", "optim": {"seed": 3}}), r"variants\.v\.optim .*set per run"),
        (lambda c: c.update(regimes=[0, 2]), "regimes"),
        (lambda c: c.update(seeds=[-1]), "seeds"),
        (lambda c: c["synth"].update(num_val=0), "num_val"),
        (lambda c: c["synth"].update(num_pixel_train=1), "num_pixel_train must be at least the 2 foreground"),
        (lambda c: c["optim"].update(steps=0), "steps"),
    ],
)
def test_config_errors_name_the_culprit(tmp_path, change, named):
    config = tiny_grid(tmp_path)
    change(config)
    with pytest.raises(ValueError, match=named):
        load_grid(write_config(tmp_path / "grid.yaml", config))


def test_a_grid_on_a_fully_pixel_labelled_dataset_runs_to_the_end(tmp_path):
    """Pre-training reads only the val list after training, so a dataset without image-level-only images works."""
    config = tiny_grid(tmp_path)
    config["synth"]["num_image_level"] = 0
    config.update(models=["unrolled_lrp"], regimes=[2], seeds=[0])
    run_grid(load_grid(write_config(tmp_path / "grid.yaml", config)), run_root=tmp_path / "runs")
    assert (tmp_path / "runs" / "resnet18" / "n2" / "seed0" / "unrolled_lrp" / "val_metrics.json").is_file()


def test_a_variant_trains_its_model_with_its_own_lrp_and_optim_options_and_is_a_row_of_the_report(tmp_path):
    """A variant's epsilon of 1000 absorbs all relevance: its heatmaps, hence its pixel scores, are ~0 and the first
    segmentation loss is ln 3 (three classes), unlike unrolled LRP's with the grid's LRP-0. Its own learning rate
    is the one its run trains with."""
    config = tiny_grid(tmp_path)
    variant = {
        "model": "unrolled_lrp",
        "lrp": {"composite": "epsilon", "epsilon": 1000.0},
        "optim": {"lr": 3e-4},
        "display": "absorbed",
    }
    config.update(models=["unrolled_lrp", "eps"], variants={"eps": variant}, regimes=[2], seeds=[0])
    run_root = tmp_path / "runs"
    run_grid(load_grid(write_config(tmp_path / "grid.yaml", config)), run_root=run_root)
    runs = {name: run_root / "resnet18" / "n2" / "seed0" / name for name in ("unrolled_lrp", "eps")}
    saved = {name: yaml.safe_load((path / "config.yaml").read_text()) for name, path in runs.items()}
    assert saved["eps"]["model"] == "unrolled_lrp" and saved["eps"]["lrp"]["composite"] == "epsilon"
    assert (saved["eps"]["optim"]["lr"], saved["unrolled_lrp"]["optim"]["lr"]) == (3e-4, config["optim"]["lr"])
    assert saved["eps"]["optim"]["seed"] == 0 and saved["eps"]["optim"]["steps"] == config["optim"]["steps"]
    first_seg_loss = {name: float(next(csv.reader((path / "log.csv").open()))[2]) for name, path in runs.items()}
    assert first_seg_loss["eps"] == pytest.approx(math.log(3), abs=1e-3)
    assert abs(first_seg_loss["unrolled_lrp"] - math.log(3)) > 0.05
    markdown = write_report(run_root)
    for table in ("Table 1", "Table 2"):
        rows = markdown.split(f"### {table}")[1].split("###")[0]
        assert "| resnet18 | unrolled LRP |" in rows and "| resnet18 | absorbed |" in rows

    grown = {**config, "models": ["unrolled_lrp", "eps", "eps2"], "variants": {"eps": variant, "eps2": variant}}
    _write_grid_file(load_grid(write_config(tmp_path / "grown.yaml", grown)), run_root)  # a new variant: accepted
    changed = {**config, "variants": {"eps": {**variant, "lrp": {"composite": "epsilon", "epsilon": 1.0}}}}
    with pytest.raises(ValueError, match="other settings"):
        run_grid(load_grid(write_config(tmp_path / "changed.yaml", changed)), run_root=run_root)


def test_a_run_root_written_before_a_variant_option_existed_still_takes_its_grid(tmp_path):
    """A ``grid.yaml`` saved without a variant field added since (here ``optim``) means that field's default."""
    config = {**tiny_grid(tmp_path), "variants": {"v": {"model": "unet"}}, "models": ["unet", "v"]}
    new = _plain(load_grid(write_config(tmp_path / "grid.yaml", config)))
    saved = {**new, "variants": {"v": {k: v for k, v in new["variants"]["v"].items() if k != "optim"}}}
    assert _same_runs(saved, new)
    assert not _same_runs({**saved, "variants": {"v": {**saved["variants"]["v"], "optim": {"lr": 1.0}}}}, new)
