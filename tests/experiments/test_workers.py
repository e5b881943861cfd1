"""Two ``ulrp reproduce`` workers started on one run root share a tiny grid: the one killed (SIGKILL) in the middle
of a run leaves that run to the other, which resumes it, finishes the grid and writes the report; every run is
trained by one worker and every step of it is logged once."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tiny_runs import tiny_grid

SRC = Path(__file__).resolve().parents[2] / "src"
STEPS = 6


def _grid(tmp: Path) -> dict:
    """Four runs of six steps (a checkpoint every two), no DataLoader workers."""
    grid = tiny_grid(tmp)
    grid["data"]["workers"] = 0
    grid["optim"]["steps"] = STEPS
    return {**grid, "seeds": [0]}


def _worker(config: Path, run_root: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env |= {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}  # one core each; output up to the kill
    command = ["reproduce", "--grid", str(config), "--run_root", str(run_root)]
    code = "import sys; from unrolled_lrp.cli.main import console; sys.argv[0] = 'ulrp'; console()"
    with log.open("w") as output:
        return subprocess.Popen([sys.executable, "-c", code, *command], env=env, stdout=output, stderr=output)


def _logged_steps(run: Path) -> list[int]:
    with (run / "log.csv").open() as log:
        return [int(row[0]) for row in csv.reader(log) if row]


def _run_in_progress(run_root: Path, pid: int) -> Path | None:
    """A run directory that process ``pid`` holds, past its first checkpoint and not finished."""
    for lock in run_root.glob("*/n*/seed*/*/.lock"):
        run = lock.parent
        if lock.read_text().startswith(f"pid {pid} ") and (run / "last.pt").exists():
            if not (run / "val_metrics.json").exists() and len(_logged_steps(run)) < STEPS:
                return run
    return None


def _started(log: Path, run_root: Path) -> set[str]:
    """The run directories (relative to the run root) a worker started, from its output."""
    return {
        Path(match).relative_to(run_root).as_posix()
        for match in re.findall(r"\) -> (\S+)$", log.read_text(), flags=re.MULTILINE)
    }


@pytest.mark.slow  # two fresh Python processes that train a grid of four runs
def test_two_workers_share_a_grid_and_one_takes_over_the_run_of_the_other_killed_mid_run(tmp_path):
    config, run_root = tmp_path / "grid.yaml", tmp_path / "runs"
    config.write_text(yaml.safe_dump(_grid(tmp_path)))
    survivor = _worker(config, run_root, tmp_path / "survivor.log")
    killed = _worker(config, run_root, tmp_path / "killed.log")
    try:
        deadline, victim = time.monotonic() + 600, None
        while victim is None and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            victim = _run_in_progress(run_root, killed.pid)
        assert victim is not None, (tmp_path / "killed.log").read_text()
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert survivor.wait(timeout=900) == 0, (tmp_path / "survivor.log").read_text()
    finally:
        for process in (survivor, killed):
            process.kill()
            process.wait()
    runs = {lock.parent.relative_to(run_root).as_posix() for lock in run_root.glob("*/n*/seed*/*/.lock")}
    assert len(runs) == 4 and all((run_root / run / "val_metrics.json").is_file() for run in runs)
    by_survivor, by_killed = _started(tmp_path / "survivor.log", run_root), _started(tmp_path / "killed.log", run_root)
    victim_name = victim.relative_to(run_root).as_posix()
    assert by_survivor | by_killed == runs and by_survivor & by_killed == {victim_name}  # taken over, nothing else
    with (run_root / "timings.csv").open() as timings:
        finished = [row["run_dir"] for row in csv.DictReader(timings) if row["run_dir"] != "resnet18/pretrain"]
    assert sorted(finished) == sorted(runs)  # each run finished once
    assert _logged_steps(victim) == list(range(1, STEPS + 1))  # resumed from its checkpoint: no step twice
    assert (run_root / "report" / "tables.md").is_file()  # written by the survivor, which finished last
