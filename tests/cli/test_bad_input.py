"""Every kind of bad input ends the ``ulrp`` console command with a non-zero status and one ``error:`` line that
names what is wrong, without a traceback and without touching an existing run directory or checkpoint."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

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


#: Appended where a refused command would otherwise train for long if the check were missing.
_ONE_STEP = ("--optim.steps", "1")

# (name, command builder (tiny_voc, run, tmp) -> argv, expected message pattern)
CASES: list[tuple[str, Callable[[Path, Path, Path], list[str]], str]] = [
    (
        "training crop not a multiple of the network stride",
        lambda voc, run, tmp: ["train", *_data(voc), "--data.crop_size", "112", "--out_dir", str(tmp / "o")],
        r"data.crop_size must be a multiple of 32 .*got 112; e.g. 128",
    ),
    (
        "training crop smaller than the network stride",
        lambda voc, run, tmp: ["train", *_data(voc), "--data.crop_size", "16", *_ONE_STEP, "--out_dir", str(tmp / "o")],
        r"data.crop_size must be at least 32 for unrolled_lrp on resnet18 \(its stride.*got 16",
    ),
    (
        "training crop of one stride with one image per batch (BatchNorm on a single value)",
        lambda voc, run, tmp: ["train", *_data(voc), "--data.batch_size", "1", *_ONE_STEP, "--out_dir", str(tmp / "o")],
        r"data.crop_size must be at least 64 for unrolled_lrp on resnet18 \(two strides.*got 32",
    ),
    (
        "pre-training crop of one stride with one image per batch",
        lambda voc, run, tmp: [
            "pretrain",
            *_data(voc),
            "--data.batch_size",
            "1",
            *_ONE_STEP,
            "--out_dir",
            str(tmp / "o"),
        ],
        r"data.crop_size must be at least 64 for the resnet18 classifier",
    ),
    (
        "no loss: both loss weights 0",
        lambda voc, run, tmp: [
            "train",
            *_data(voc),
            *("--optim.seg_weight", "0", "--optim.cls_weight", "0", *_ONE_STEP, "--out_dir", str(tmp / "o")),
        ],
        r"optim.seg_weight and optim.cls_weight are both 0",
    ),
    (
        "empty val list",
        lambda voc, run, tmp: [
            "train",
            *_data(_with_list(voc, tmp, "val.txt", "")),
            *_ONE_STEP,
            "--out_dir",
            str(tmp / "o"),
        ],
        r"val\.txt: lists no image; evaluation needs",
    ),
    (
        "evaluation on an empty val list",
        lambda voc, run, tmp: ["eval", *_data(_with_list(voc, tmp, "val.txt", "")), "--run_dir", str(run)],
        r"val\.txt: lists no image; evaluation needs",
    ),
    (
        "empty pixel-labelled list",
        lambda voc, run, tmp: [
            "train",
            *_data(_with_list(voc, tmp, "train.txt", "")),
            *_ONE_STEP,
            "--out_dir",
            str(tmp / "o"),
        ],
        r"train\.txt: lists no image; segmentation training needs",
    ),
    (
        "regime too small for a hold-out split",
        lambda voc, run, tmp: ["train", *_data(voc), "--data.num_pixel", "1", *_ONE_STEP, "--out_dir", str(tmp / "o")],
        r"data.num_pixel: 1 pixel-labelled image\(s\) selected leave none for the hold-out split",
    ),
    (
        "unknown model",
        lambda voc, run, tmp: ["train", *_data(voc), "--model", "segformer", "--out_dir", str(tmp / "o")],
        r"unknown model 'segformer'; choose from fcn, lrp_readout, mt_unet, unet, unrolled_lrp, ws_ae",
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


# An out-of-range value of every option of ``ulrp train``, ``pretrain``, ``eval``, ``explain`` and ``reproduce``:
# (option, value or value builder (tiny_voc, tmp) -> str, expected message pattern; None: the option's name).
Value = str | Callable[[Path, Path], str]

#: The dataset settings: ``--data.*`` of train, pretrain and eval, ``--grid.data.*`` of reproduce.
DATA_OPTIONS: list[tuple[str, Value, str | None]] = [
    ("root", lambda voc, tmp: str(tmp / "nodata"), r"nodata: no VOC2012 folder found"),
    ("classes", lambda voc, tmp: str(tmp / "absent.yaml"), r"absent\.yaml"),
    ("mask_folder", "NoMasks", r"NoMasks: folder missing"),
    ("num_pixel", "-1", None),
    ("seed", "-1", None),
    ("use_aug", "maybe", None),
    ("batch_size", "0", None),
    ("pixel_fraction", "1.5", None),
    ("epoch_length", "0", None),
    ("holdout_fraction", "1", None),
    ("holdout_count", "0", None),
    ("regime_threshold", "-1", None),
    ("uniform_weight", "-0.5", None),
    ("unselected_as_image_level", "maybe", None),
    ("crop_size", "0", None),
    ("scale_range", "[2.0, 0.5]", r"data\.scale_range must be \(low, high\) with low <= high"),
    ("workers", "-1", None),
]

#: The optimisation settings: ``--optim.*`` of train and pretrain, ``--grid.optim.*`` and ``--grid.pretrain_optim.*``.
OPTIM_OPTIONS: list[tuple[str, Value, str | None]] = [
    ("steps", "0", None),
    ("lr", "0", None),
    ("weight_decay", "-0.1", None),
    ("seg_weight", "-1", None),
    ("cls_weight", "-1", None),
    ("eval_every", "0", None),
    ("log_every", "0", None),
    ("seed", str(2**32), None),
    ("device", "gpu", None),
    ("precision", "fp8", None),
    ("channels_last", "maybe", None),
    ("snapshot_every", "-1", None),
    ("snapshot_images", "0", None),
    ("compile", "maybe", None),
    ("grad_clip", "0", None),
]

#: The LRP options (the lead's LRPConfig checks them): ``--lrp.*`` of train and explain, ``--grid.lrp.*``.
LRP_OPTIONS: list[tuple[str, Value, str | None]] = [
    ("composite", "alpha", None),
    ("rules", '{"conv": "magic"}', r"rules\['conv'\] must be"),
    ("epsilon", "0", r"epsilon must be > 0"),
    ("gamma", "-1", r"gamma must be >= 0"),
    ("alpha", "3", r"alpha - beta = 1"),
    ("beta", "-1", r"alpha - beta = 1"),
    ("stabilizer", "0", r"stabilizer must be > 0"),
    ("low", "0", r"set both zB bounds low and high, or neither"),
    ("high", "1", r"set both zB bounds low and high, or neither"),
    ("activations", "sigmoid", None),
    ("relu6", "sigmoid", None),
    ("decoder_weights", "shared", None),
    ("untied_init", "nowhere", None),
    ("class_chunk_size", "0", r"class_chunk_size must be a positive integer"),
]

#: The options of the commands themselves (with the settings above for those that take them).
COMMAND_OPTIONS: dict[str, list[tuple[str, Value, str | None]]] = {
    "train": [
        ("config", lambda voc, tmp: str(tmp / "absent.yaml"), r"absent\.yaml"),
        ("weights", "imagenett", r"weights 'imagenett': no such file"),
        ("out_dir", lambda voc, tmp: str(_write(tmp / "file", "")), r"File exists.*file"),
        ("overwrite", "maybe", None),
    ],
    "pretrain": [
        ("config", lambda voc, tmp: str(tmp / "absent.yaml"), r"absent\.yaml"),
        ("weights", "imagenett", r"weights 'imagenett': no such file"),
        ("classifier_checkpoint", lambda voc, tmp: str(tmp / "absent.pt"), r"absent\.pt"),
        ("out_dir", lambda voc, tmp: str(_write(tmp / "file", "")), r"File exists.*file"),
        ("overwrite", "maybe", None),
        ("resume", lambda voc, tmp: str(tmp), r"no config\.yaml there"),
    ],
    "eval": [
        ("config", lambda voc, tmp: str(tmp / "absent.yaml"), r"absent\.yaml"),
        ("device", "gpu", None),
    ],
    "explain": [
        ("config", lambda voc, tmp: str(tmp / "absent.yaml"), r"absent\.yaml"),
        ("images", "[]", r"images: give at least one image"),
        ("out_dir", lambda voc, tmp: str(_write(tmp / "file", "")), r"File exists.*file"),
        ("arch", "resnet7", r"unsupported classifier architecture 'resnet7'"),
        ("checkpoint", lambda voc, tmp: str(tmp / "absent.pt"), r"absent\.pt"),
        ("weights", "imagenett", r"weights 'imagenett': no such file"),
        ("classes", lambda voc, tmp: str(tmp / "absent.yaml"), r"absent\.yaml"),
        ("size", "0", None),
        ("size", "16", r"19x16 pixels after --size; the classifier needs at least 32 on each side"),
        ("top_k", "0", None),
        ("device", "gpu", None),
    ],
    "reproduce": [
        ("config", lambda voc, tmp: str(tmp / "absent.yaml"), r"absent\.yaml"),
        ("grid", lambda voc, tmp: str(tmp / "absent.yaml"), r"absent\.yaml"),
        ("run_root", lambda voc, tmp: str(_write(tmp / "file", "")), r"File exists.*file"),
        ("dry_run", "maybe", None),
        ("device", "gpu", None),
        ("grid.encoders", "[resnet7]", r"unknown encoder 'resnet7' in the grid"),
        ("grid.regimes", "[0]", None),
        ("grid.models", "[]", r"grid\.models must be a non-empty list"),
        ("grid.seeds", "[-1]", None),
        ("grid.weights", "imagenett", r"weights 'imagenett': no such file"),
        ("grid.model_args", "{segformer: {}}", r"unknown model 'segformer' in the grid"),
        ("grid.regime_seed", "-1", None),
        ("grid.variants", '{"v": {"model": "segformer"}}', r"unknown model 'segformer'"),
        ("grid.synth.num_pixel_train", "0", r"grid\.synth.*num_pixel_train"),
        ("grid.synth.num_val", "0", r"grid\.synth.*num_val"),
        ("grid.synth.num_image_level", "-1", r"grid\.synth.*num_image_level"),
        ("grid.synth.image_size", "0", r"grid\.synth.*image_size"),
        ("grid.synth.seed", "-1", r"grid\.synth.*seed"),
        ("grid.synth.classes", "[background]", r"at least two classes"),
    ],
}


def _base(command: str, voc: Path, run: Path, tmp: Path) -> list[str]:
    """A valid ``ulrp COMMAND`` that bad option values are appended to (a few seconds of work if one is accepted)."""
    one_step = ["--data.num_pixel", "6", "--data.batch_size", "4", "--optim.steps", "1", "--out_dir", str(tmp / "o")]
    image = tmp / "image.png"
    Image.new("RGB", (48, 40), (90, 160, 30)).save(image)
    return {
        "train": ["train", *_data(voc), *one_step],
        "pretrain": ["pretrain", *_data(voc), *one_step],
        "eval": ["eval", *_data(voc), "--run_dir", str(run)],
        "explain": ["explain", "--images", f"[{image}]", "--classes", str(voc / "classes.yaml"), "--out_dir", str(tmp)],
        "reproduce": ["reproduce", "--grid", str(_tiny_grid_file(voc, tmp)), "--run_root", str(tmp / "runs")],
    }[command]


def _tiny_grid_file(voc: Path, tmp: Path) -> Path:
    """A grid of one 1-step run on the tiny dataset."""
    grid = {
        "data": {"root": str(voc), "classes": str(voc / "classes.yaml"), "crop_size": 32, "batch_size": 4},
        "encoders": ["resnet18"],
        "regimes": [2],
        "models": ["unet"],
        "optim": {"steps": 1, "eval_every": 1},
        "pretrain_optim": {"steps": 1, "eval_every": 1},
    }
    return _write(tmp / "tiny_grid.yaml", yaml.safe_dump(grid))


def _option_case(command: str, option: str, value: Value, pattern: str | None) -> tuple:
    """One row of the table: ``ulrp COMMAND ... --OPTION VALUE`` and the pattern its error must match."""

    def argv(voc: Path, run: Path, tmp: Path) -> list[str]:
        given = value(voc, tmp) if callable(value) else value
        return [*_base(command, voc, run, tmp), f"--{option}", given]

    shown = value if isinstance(value, str) else "<path>"
    return (f"{command} --{option} {shown}", argv, pattern or re.escape(option.removeprefix("grid.")))


def _option_cases() -> list[tuple]:
    settings = {
        "train": [("data", DATA_OPTIONS), ("optim", OPTIM_OPTIONS), ("lrp", LRP_OPTIONS)],
        "pretrain": [("data", DATA_OPTIONS), ("optim", OPTIM_OPTIONS)],
        "eval": [("data", DATA_OPTIONS)],
        "explain": [("lrp", LRP_OPTIONS)],
        "reproduce": [
            ("grid.data", DATA_OPTIONS),
            ("grid.optim", OPTIM_OPTIONS),
            ("grid.pretrain_optim", OPTIM_OPTIONS),
            ("grid.lrp", LRP_OPTIONS),
        ],
    }
    cases = []
    for command, sections in settings.items():
        for section, options in sections:
            cases += [_option_case(command, f"{section}.{o}", value, pattern) for o, value, pattern in options]
        cases += [_option_case(command, *option) for option in COMMAND_OPTIONS[command]]
    return cases


CASES += _option_cases()


def _with_list(voc: Path, tmp: Path, name: str, content: str) -> Path:
    """A copy of the dataset whose segmentation list ``name`` holds ``content``."""
    root = tmp / "voc"
    shutil.copytree(voc, root)
    (root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / name).write_text(content)
    return root


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


@pytest.mark.slow  # a fresh Python process: pytest would capture the warnings the console prints
def test_a_class_no_image_contains_is_one_warning_line_and_the_check_passes(tiny_voc, tmp_path):
    root = tmp_path / "voc"
    shutil.copytree(tiny_voc, root)
    (root / "classes.yaml").write_text("classes: [background, cat, dog, cow]\n")
    src = Path(__file__).resolve().parents[2] / "src"
    code = "import sys; from unrolled_lrp.cli.main import console; sys.argv[0] = 'ulrp'; console()"
    args = ["data", "check", "--root", str(root), "--classes", str(root / "classes.yaml")]
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("ULRP_DEBUG", None)
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {root / 'VOCdevkit' / 'VOC2012'}: no training image contains the class(es) cow",
        f"warning: {root / 'VOCdevkit' / 'VOC2012'}: no val image contains the class(es) cow",
    ]
