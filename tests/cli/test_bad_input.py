"""Every kind of bad input ends the ``ulrp`` console command with a non-zero status and one ``error:`` line that
names what is wrong, without a traceback and without touching an existing run directory or checkpoint."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from unrolled_lrp.cli.main import console, main
from unrolled_lrp.training.checkpoint import save_atomic


def _data(root: Path) -> list[str]:
    return ["--data.root", str(root), "--data.classes", str(root / "classes.yaml"), "--data.crop_size", "32"]


@pytest.fixture(scope="module")
def run(tiny_voc, tmp_path_factory) -> Path:
    """A finished unrolled LRP run (1 step, random classifier) the bad commands must leave as it is."""
    out = tmp_path_factory.mktemp("run")
    options = ["--data.num_pixel", "6", "--data.batch_size", "4", "--optim.steps", "1", "--optim.eval_every", "1"]
    main(["train", *_data(tiny_voc), *options, "--out_dir", str(out)])
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _foreign_checkpoint(path: Path) -> Path:
    return save_atomic({"model": {"encoder.weight": torch.zeros(3)}}, path)


def _two_class_checkpoint(path: Path) -> Path:
    """A resnet18 classifier for 2 classes: wrong for the 3-class dataset."""
    from unrolled_lrp.models import build_classifier

    return save_atomic({"model": build_classifier("resnet18", 2).state_dict()}, path)


def _classes_missing_a_mask_value(tiny_voc: Path, tmp: Path) -> Path:
    """The dataset with a class file of 2 classes while its masks use 3."""
    root = tmp / "voc"
    shutil.copytree(tiny_voc, root)
    (root / "classes.yaml").write_text(yaml.safe_dump({"classes": ["background", "cat"]}))
    return root


# (name, command builder (tiny_voc, run, tmp) -> argv, expected message pattern)
CASES: list[tuple[str, Callable[[Path, Path, Path], list[str]], str]] = [
    (
        "training crop not a multiple of the network stride",
        lambda voc, run, tmp: ["train", *_data(voc), "--data.crop_size", "112", "--out_dir", str(tmp / "o")],
        r"data.crop_size must be a multiple of 32 .*got 112; e.g. 128",
    ),
    (
        "unknown model",
        lambda voc, run, tmp: ["train", *_data(voc), "--model", "segformer", "--out_dir", str(tmp / "o")],
        r"unknown model 'segformer'; choose from fcn, mt_unet, unet, unrolled_lrp, ws_ae",
    ),
    (
        "unknown architecture",
        lambda voc, run, tmp: ["train", *_data(voc), "--arch", "resnet7", "--out_dir", str(tmp / "o")],
        r"unsupported classifier architecture 'resnet7'; choose one of",
    ),
    (
        "unknown pretrain architecture",
        lambda voc, run, tmp: ["pretrain", *_data(voc), "--arch", "alexnet", "--out_dir", str(tmp / "o")],
        r"unsupported classifier architecture 'alexnet'",
    ),
    (
        "corrupt classifier checkpoint",
        lambda voc, run, tmp: [
            "train",
            *_data(voc),
            "--classifier_checkpoint",
            str(_write(tmp / "corrupt.pt", b"\x80\x02not a checkpoint")),
            "--out_dir",
            str(tmp / "o"),
        ],
        r"corrupt\.pt.*cannot be read.*not a checkpoint",
    ),
    (
        "foreign classifier checkpoint",
        lambda voc, run, tmp: [
            "train",
            *_data(voc),
            "--classifier_checkpoint",
            str(_foreign_checkpoint(tmp / "foreign.pt")),
            "--out_dir",
            str(tmp / "o"),
        ],
        r"foreign\.pt does not fit ResNet.*another arch or number of classes",
    ),
    (
        "checkpoint of another number of classes",
        lambda voc, run, tmp: [
            "train",
            *_data(voc),
            "--classifier_checkpoint",
            str(_two_class_checkpoint(tmp / "two.pt")),
            "--out_dir",
            str(tmp / "o"),
        ],
        r"two\.pt does not fit ResNet.*shape mismatch.*fc\.weight",
    ),
    (
        "missing classifier checkpoint",
        lambda voc, run, tmp: [
            "train",
            *_data(voc),
            "--classifier_checkpoint",
            str(tmp / "absent.pt"),
            "--out_dir",
            str(tmp / "o"),
        ],
        r"absent\.pt",
    ),
    (
        "missing dataset",
        lambda voc, run, tmp: ["train", "--data.root", str(tmp / "nodata"), "--out_dir", str(tmp / "o")],
        r"dataset problem.*nodata: no VOC2012 folder found",
    ),
    (
        "class file that does not match the masks",
        lambda voc, run, tmp: [
            "train",
            *_data(_classes_missing_a_mask_value(voc, tmp)),
            "--out_dir",
            str(tmp / "o"),
        ],
        r"dataset problem.*mask values \[2\] outside",
    ),
    (
        "class file that is not a class list",
        lambda voc, run, tmp: [
            "train",
            "--data.root",
            str(voc),
            "--data.classes",
            str(_write(tmp / "classes.yaml", "- cat\n- dog\n")),
            "--out_dir",
            str(tmp / "o"),
        ],
        r"classes\.yaml: expected a mapping with a 'classes' list",
    ),
    (
        "class file that is not YAML",
        lambda voc, run, tmp: [
            "train",
            "--data.root",
            str(voc),
            "--data.classes",
            str(_write(tmp / "broken.yaml", "classes: [background, cat\n")),
            "--out_dir",
            str(tmp / "o"),
        ],
        r"broken\.yaml.*not valid YAML",
    ),
    (
        "model options the model does not take",
        lambda voc, run, tmp: [
            "train",
            *_data(voc),
            "--model",
            "unet",
            "--model_args",
            '{"rule": "epsilon"}',
            "--out_dir",
            str(tmp / "o"),
        ],
        r"model_args .*rule.* do not fit model 'unet'",
    ),
    (
        "resume with settings that change the result",
        lambda voc, run, tmp: ["train", "--resume", str(run), "--optim.lr", "1e-2"],
        r"holds a run with other settings \(optim\.lr: 1e-05 -> 0\.01\).*--overwrite true",
    ),
    (
        "resume of a folder that holds no run",
        lambda voc, run, tmp: ["train", "--resume", str(tmp)],
        r"no config\.yaml there; is it a run directory",
    ),
    (
        "resume of a run whose last.pt is corrupt",
        lambda voc, run, tmp: ["train", "--resume", str(_corrupt_copy(run, tmp / "broken_run", "last.pt"))],
        r"last\.pt cannot be read",
    ),
    (
        "evaluation of a folder that holds no run",
        lambda voc, run, tmp: ["eval", *_data(voc), "--run_dir", str(tmp)],
        r"no config\.yaml there",
    ),
    (
        "evaluation of a run without best.pt",
        lambda voc, run, tmp: ["eval", *_data(voc), "--run_dir", str(_corrupt_copy(run, tmp / "r", "best.pt", None))],
        r"checkpoint .*best\.pt does not exist",
    ),
    (
        "evaluation with another class file than the run's",
        lambda voc, run, tmp: [
            "eval",
            "--data.root",
            str(voc),
            "--data.classes",
            str(_write(tmp / "four.yaml", "classes: [background, cat, dog, cow]\n")),
            "--run_dir",
            str(run),
        ],
        r"best\.pt does not hold the weights of a resnet18 unrolled_lrp with 4 classes",
    ),
    (
        "option value of the wrong type",
        lambda voc, run, tmp: ["train", *_data(voc), "--optim.lr", "notanumber", "--out_dir", str(tmp / "o")],
        r"optim\.lr",
    ),
    (
        "unknown option",
        lambda voc, run, tmp: ["train", *_data(voc), "--optim.stepz", "3", "--out_dir", str(tmp / "o")],
        r"optim\.stepz",
    ),
    (
        "grid with an unknown model",
        lambda voc, run, tmp: [
            "reproduce",
            "--grid",
            str(_write(tmp / "grid.yaml", _grid(voc, models=["unet", "segformer"]))),
            "--run_root",
            str(tmp / "runs"),
        ],
        r"unknown model 'segformer' in the grid",
    ),
    (
        "report of a folder without runs",
        lambda voc, run, tmp: ["report", "--run_root", str(tmp)],
        r"no finished runs .* under .*; run ulrp reproduce first",
    ),
]


def _corrupt_copy(run: Path, copy: Path, name: str, content: bytes | None = b"garbage") -> Path:
    """A copy of ``run`` whose file ``name`` is garbage (or missing when ``content`` is None)."""
    shutil.copytree(run, copy)
    if content is None:
        (copy / name).unlink()
    else:
        (copy / name).write_bytes(content)
    return copy


def _grid(voc: Path, models: list[str]) -> str:
    grid = {"data": {"root": str(voc)}, "encoders": ["resnet18"], "regimes": [2], "models": models}
    return yaml.safe_dump(grid)


def _console(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Exit status and standard error of ``ulrp ARGV`` as the shell sees them."""
    monkeypatch.setattr(sys, "argv", ["ulrp", *argv])
    with pytest.raises(SystemExit) as stop:
        console()
    err, code = capsys.readouterr().err, stop.value.code
    if isinstance(code, str):  # sys.exit(message): Python prints it to stderr and exits with 1
        return 1, err + code
    return int(code or 0), err


@pytest.mark.parametrize(("argv", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_ends_with_one_error_line_and_damages_nothing(
    tiny_voc, run, tmp_path, capsys, monkeypatch, argv, message
):
    before = _files(run)
    status, err = _console(argv(tiny_voc, run, tmp_path), capsys, monkeypatch)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status != 0
    assert "Traceback" not in err and len(errors) == 1, err
    assert re.search(message, err, re.DOTALL), err
    assert _files(run) == before
    assert not (tmp_path / "o" / "last.pt").exists()


def test_data_check_exits_non_zero_on_a_broken_dataset(tiny_voc, tmp_path, capsys, monkeypatch):
    root = _classes_missing_a_mask_value(tiny_voc, tmp_path)
    status, _ = _console(
        ["data", "check", "--root", str(root), "--classes", str(root / "classes.yaml")], capsys, monkeypatch
    )
    assert status == 1
    status, _ = _console(
        ["data", "check", "--root", str(tiny_voc), "--classes", str(tiny_voc / "classes.yaml")], capsys, monkeypatch
    )
    assert status == 0
