"""``ulrp train`` under torchrun: two CPU processes (gloo) train, stay in sync, write one run dir, resume."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

import unrolled_lrp
from tiny_runs import tiny_data_args
from unrolled_lrp.training.checkpoint import load

WORKER = Path(__file__).with_name("ddp_worker.py")


def _torchrun(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(Path(unrolled_lrp.__file__).parents[1])}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(WORKER),
        *args,
    ]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _parameters(state):
    """Trained weights; BatchNorm running statistics are each rank's own (DDP sends rank 0's at each forward)."""
    return {key: value for key, value in state.items() if "running_" not in key and "num_batches" not in key}


def test_two_processes_train_in_sync_and_resume(tiny_voc, tmp_path):
    run = tmp_path / "run"
    args = [
        "train",
        *tiny_data_args(tiny_voc),
        "--optim.eval_every",
        "2",
        "--optim.log_every",
        "1",
        "--optim.lr",
        "1e-3",
        "--out_dir",
        str(run),
    ]
    _torchrun([*args, "--optim.steps", "2"], tmp_path)
    out = _torchrun([*args, "--optim.steps", "3"], tmp_path)
    assert out.count("best hold-out mIoU") == 1  # rank 0 alone reports
    rank0, rank1 = (_parameters(torch.load(tmp_path / f"rank{rank}.pt")) for rank in (0, 1))
    saved = load(run / "last.pt")
    assert saved["step"] == 3 and [int(row[0]) for row in csv.reader((run / "log.csv").open())] == [1, 2, 3]
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]) and torch.equal(value, saved["model"][key]), key
    assert (run / "best.pt").exists() and (run / "metrics.json").exists()
