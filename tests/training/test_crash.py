"""A real ``ulrp train`` process whose training raises at a chosen step, with DataLoader workers and TensorBoard on,
exits at once with one ``error:`` line (the traceback under ``ULRP_DEBUG=1``), leaves no worker process behind and
keeps the last good ``last.pt`` loadable."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unrolled_lrp.training.checkpoint import load

SRC = Path(__file__).resolve().parents[2] / "src"

#: ``ulrp`` with the trainer's per-step check replaced by one that raises after ``FAIL_AT`` steps; at that moment it
#: writes the time and the pids of the process's children (the DataLoader workers) to ``MARKER``.
CRASHING_ULRP = """
import json, multiprocessing, os, sys, time
from unrolled_lrp.cli.main import console
from unrolled_lrp.training import trainer

def failing(step, loss, grad_norm, last):
    if step >= int(os.environ["FAIL_AT"]):
        children = [child.pid for child in multiprocessing.active_children()]
        with open(os.environ["MARKER"], "w") as marker:
            json.dump({"time": time.time(), "children": children}, marker)
        raise RuntimeError(f"injected failure at step {step}")

trainer.check_finite = failing
sys.argv[0] = "ulrp"
console()
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its new parent to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _crash(args: list[str], tmp_path: Path, debug: bool) -> tuple[subprocess.CompletedProcess, dict, float]:
    """Run the crashing command; its result, the marker written at the failure and the seconds from there to exit."""
    marker = tmp_path / "marker.json"
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
        "FAIL_AT": "3",
        "MARKER": str(marker),
    }
    env.pop("ULRP_DEBUG", None)
    env |= {"ULRP_DEBUG": "1"} if debug else {}
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_ULRP, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)  # the hang this test is about: clean up, then fail
        process.communicate()
        pytest.fail("the crashed command did not exit within 120 s")
    ended = time.time()
    failure = json.loads(marker.read_text())
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return result, failure, ended - failure["time"]


@pytest.mark.slow  # a fresh Python process that imports torch and trains 3 steps
@pytest.mark.parametrize("debug", [False, True], ids=["console", "ULRP_DEBUG"])
def test_an_exception_in_training_ends_the_process_at_once_and_leaves_nothing_behind(tiny_voc, tmp_path, debug):
    out = tmp_path / "run"
    args = [
        "train",
        *("--data.root", str(tiny_voc), "--data.classes", str(tiny_voc / "classes.yaml")),
        *("--data.crop_size", "32", "--data.batch_size", "4", "--data.num_pixel", "6", "--data.workers", "2"),
        *("--optim.steps", "10", "--optim.eval_every", "2", "--optim.log_every", "1", "--out_dir", str(out)),
    ]
    result, failure, seconds = _crash(args, tmp_path, debug)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1, result.stderr
    if debug:
        assert "Traceback" in result.stderr and "RuntimeError: injected failure at step 3" in result.stderr
    else:
        assert errors == ["error: RuntimeError: injected failure at step 3 (ULRP_DEBUG=1 shows the traceback)"], (
            result.stderr
        )
        assert "Traceback" not in result.stderr
    assert seconds < 30, f"{seconds:.0f} s from the failure to the exit"
    assert len(failure["children"]) == 2  # the workers were running when training failed ...
    assert not [pid for pid in failure["children"] if _alive(pid)]  # ... and ended with the command
    assert load(out / "last.pt")["step"] == 2  # the checkpoint of the evaluation before the failure
    assert list((out / "tensorboard").iterdir())
