"""``ulrp report`` on a hand-made grid of runs with known numbers."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from unrolled_lrp.cli.main import main
from unrolled_lrp.experiments.report import collect_runs, write_report
from unrolled_lrp.visualisation.evolution import pick_steps

#: (model, num_pixel) → per-seed (miou, f1); unet at 100 misses its third seed (unfinished run).
RESULTS = {
    ("unrolled_lrp", 20): [(0.40, 0.80), (0.42, 0.82), (0.44, 0.84)],
    ("unrolled_lrp", 100): [(0.50, 0.83), (0.52, 0.83), (0.51, 0.83)],
    ("unet", 20): [(0.30, None), (0.31, None), (0.35, None)],
    ("unet", 100): [(0.55, None), (0.57, None)],
}


def _write(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


@pytest.fixture
def run_root(tmp_path):
    root = tmp_path / "runs"
    _write(root / "resnet18" / "pretrain" / "metrics.json", {"arch": "resnet18", "val": {"f1": 0.81}})
    for (model, num_pixel), seeds in RESULTS.items():
        for seed, (miou, f1) in enumerate(seeds):
            run = root / "resnet18" / f"n{num_pixel}" / f"seed{seed}" / model
            _write(run / "val_metrics.json", {"miou": miou, **({} if f1 is None else {"f1": f1})})
            _write(run / "metrics.json", {"model": model, "holdout": {"step": 10}})
    _write(root / "resnet18" / "n100" / "seed2" / "unet" / "metrics.json", {"model": "unet"})  # not evaluated
    return root


def _markdown_cells(markdown, title_start):
    """{(method, column): cell text} of the Markdown table whose title starts with ``title_start``."""
    block = markdown.split(f"### {title_start}")[1].split("###")[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    columns = [c.strip() for c in lines[0].strip("|").split("|")][2:]
    cells = {}
    for line in lines[2:]:
        _, method, *values = [c.strip() for c in line.strip("|").split("|")]
        cells.update({(method, column): value for column, value in zip(columns, values)})
    return cells


def test_tables_hold_mean_and_std_over_seeds_with_the_best_in_bold(run_root):
    markdown = write_report(run_root)
    table1 = _markdown_cells(markdown, "Table 1")
    assert table1 == {
        ("UNet", "20"): "32.00 ± 2.65",
        ("UNet", "100"): "**56.00 ± 1.41** (n=2)",
        ("unrolled LRP", "20"): "**42.00 ± 2.00**",
        ("unrolled LRP", "100"): "51.00 ± 1.00",
    }
    assert _markdown_cells(markdown, "Table 2") == {  # one encoder: nothing to beat, nothing bold
        ("unrolled LRP", "0"): "81.00",
        ("unrolled LRP", "20"): "82.00 ± 2.00",
        ("unrolled LRP", "100"): "83.00 ± 0.00",
    }
    assert _markdown_cells(markdown, "Table 3") == table1  # same models here: ws_ae and fcn have no runs
    assert (run_root / "report" / "tables.md").read_text() == markdown
    assert len(collect_runs(run_root)) == 11


@pytest.mark.parametrize(("name", "title"), [("table1", "Table 1"), ("table2", "Table 2"), ("table3", "Table 3")])
def test_csv_and_markdown_agree(run_root, name, title):
    cells = _markdown_cells(write_report(run_root), title)
    with (run_root / "report" / f"{name}.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(cells)
    for row in rows:
        text = f"{float(row['mean']):.2f}" + (f" ± {float(row['std']):.2f}" if row["std"] else "")
        cell = cells[(row["method"], row["num_pixel"])]
        assert cell.split(" (n=")[0].strip("*") == text
        assert cell.startswith("**") == (row["best"] == "1")


def test_plot_is_a_real_picture_and_the_cli_prints_the_tables(run_root, tmp_path, capsys):
    main(["report", "--run_root", str(run_root), "--out_dir", str(tmp_path / "out")])
    assert "Table 1" in capsys.readouterr().out
    plot = np.asarray(Image.open(tmp_path / "out" / "miou_vs_labels.png").convert("L"))
    assert plot.shape[1] > 300 and len(np.unique(plot)) > 20


def test_figure_steps_run_from_the_first_snapshot_to_the_selected_checkpoint():
    assert pick_steps([0, 2, 4, 6, 8, 10], columns=3, last=8) == [0, 4, 8]
    assert pick_steps([0, 2], columns=6) == [0, 2]


def test_an_empty_grid_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        write_report(tmp_path)
