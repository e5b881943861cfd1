"""A real ``ulrp pretrain`` process stopped by a real SIGTERM checkpoints its step, says how to resume, and the
resumed run (with another number of data workers) ends with the weights of an uninterrupted one."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from unrolled_lrp.cli.main import main, resume_command
from unrolled_lrp.models import build_classifier
from unrolled_lrp.training.checkpoint import load
from unrolled_lrp.training.safety import Preempted

SRC = Path(__file__).resolve().parents[2] / "src"


def _args(root, start, steps):
    return [
        "pretrain",
        "--data.root",
        str(root),
        "--data.classes",
        str(root / "classes.yaml"),
        "--data.batch_size",
        "4",
        "--data.crop_size",
        "32",
        "--optim.steps",
        str(steps),
        "--optim.eval_every",
        "10000",
        "--optim.log_every",
        "1",
        "--optim.lr",
        "1e-3",
        "--classifier_checkpoint",
        str(start),
    ]


def _logged_steps(run_dir: Path) -> int:
    log = run_dir / "log.csv"
    return len(list(csv.reader(log.open()))) if log.exists() else 0


def _run_until_two_logged_steps_then_sigterm(args, run_dir):
    # one thread in both processes: a convolution's sums are ordered by its thread count
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", "from unrolled_lrp.cli.main import console; console()", *args]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _logged_steps(run_dir) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


@pytest.mark.slow  # a fresh Python process that imports torch
def test_sigterm_checkpoints_the_step_and_the_resumed_run_ends_bit_identical(tiny_voc, tmp_path, single_thread):
    start = tmp_path / "start.pt"
    torch.manual_seed(0)
    torch.save(build_classifier("resnet18", 3).state_dict(), start)
    stopped = tmp_path / "stopped"
    code, stderr = _run_until_two_logged_steps_then_sigterm(
        [*_args(tiny_voc, start, steps=10000), "--out_dir", str(stopped)], stopped
    )
    step = load(stopped / "last.pt")["step"]
    assert code == 128 + signal.SIGTERM, stderr
    assert f"stopped by SIGTERM after step {step}" in stderr
    assert f"to resume: ulrp pretrain --resume {stopped}" in stderr
    assert 2 <= step < 10000 and _logged_steps(stopped) == step
    main(["pretrain", "--resume", str(stopped), "--optim.steps", str(step + 2), "--data.workers", "0"])
    main([*_args(tiny_voc, start, steps=step + 2), "--out_dir", str(tmp_path / "straight")])
    resumed, straight = load(stopped / "classifier.pt")["model"], load(tmp_path / "straight" / "classifier.pt")["model"]
    for name, value in straight.items():
        assert torch.equal(value, resumed[name]), name


def test_a_preempted_grid_resumes_with_the_same_command():
    stop = Preempted(signal.SIGINT, 7, Path("study/resnet18/n20/seed0/unrolled_lrp/last.pt"))
    args = ["reproduce", "--grid", "configs/paper_voc.yaml", "--run_root", "study dir"]
    assert resume_command(args, stop) == "ulrp reproduce --grid configs/paper_voc.yaml --run_root 'study dir'"
    assert resume_command(["train", "--config", "a.yaml"], stop).endswith(
        "train --resume study/resnet18/n20/seed0/unrolled_lrp"
    )
    assert str(stop) == f"stopped by SIGINT after step 7; {stop.checkpoint} saved"
