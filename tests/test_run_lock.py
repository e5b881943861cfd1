"""One process per run directory: the lock names its holder, dies with it (kill -9 leaves none), nests in its
holder, excludes other threads, and ``ulrp train`` into a held run directory ends with one error line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from unrolled_lrp.cli.main import console
from unrolled_lrp.runs import RunDir
from unrolled_lrp.runs.lock import exclusive
from unrolled_lrp.runs.rundir import RunLocked

SRC = Path(__file__).resolve().parents[1] / "src"

#: A process that holds the run directory ``sys.argv[1]`` until it is killed; it prints "held" once it does.
HOLDER = """
import sys, time
from pathlib import Path
from unrolled_lrp.runs import RunDir
with RunDir(Path(sys.argv[1])).lock():
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path / "run"``; the test may kill it (it is killed at the end otherwise)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "run")], env=env, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == b"held"
    yield process
    process.kill()
    process.wait()


def test_a_second_process_is_refused_with_the_holders_pid_and_a_killed_holder_leaves_no_lock(holder, tmp_path):
    run = RunDir(tmp_path / "run")
    with pytest.raises(RunLocked, match=rf"{run.path} is in use by another process \(pid {holder.pid} on "):
        with run.lock():
            pass
    assert run.held_by() == run.holder() and run.holder().startswith(f"pid {holder.pid} on ")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run.lock():  # at once: the operating system released the dead holder's lock
        assert run.holder() == f"pid {os.getpid()} on {socket.gethostname()}"
    assert run.held_by() is None


def test_the_holder_may_lock_again_and_the_lock_file_survives_a_fresh_start(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.lock():
        with run.lock():  # a grid worker holding a run calls the workflows, which lock it too
            (run.path / "last.pt").write_text("x")
            run.clear()
        assert sorted(path.name for path in run.path.iterdir()) == [".lock"]
        assert run.held_by() is None  # this process's own lock: nobody else's


def test_other_threads_wait_for_the_lock(tmp_path):
    inside, overlaps = [], []

    def work():
        with exclusive(tmp_path / "step.lock", wait=True):
            overlaps.append(bool(inside))
            inside.append(1)
            time.sleep(0.1)
            inside.pop()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [False, False, False]


def test_train_into_a_run_directory_another_process_holds_ends_with_one_error_line(
    holder, tiny_voc, tmp_path, capsys, monkeypatch
):
    data = ["--data.root", str(tiny_voc), "--data.classes", str(tiny_voc / "classes.yaml"), "--data.crop_size", "32"]
    monkeypatch.setattr(sys, "argv", ["ulrp", "train", *data, "--out_dir", str(tmp_path / "run")])
    with pytest.raises(SystemExit) as stop:
        console()
    assert str(stop.value) == (
        f"error: {tmp_path / 'run'} is in use by another process (pid {holder.pid} on {socket.gethostname()}): one "
        "process writes a run directory at a time; wait for it to end, or stop it and run this again (the run "
        "resumes where it stopped)"
    )
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == [".lock"]  # nothing written
