"""The demo study: a synthetic VOC-layout dataset, one pre-trained classifier, a few models trained from it with
the same pixel labels, each evaluated on the val list, and explanation figures of the trained unrolled classifier.
Small enough for a CPU in minutes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unrolled_lrp import runs
from unrolled_lrp.data.pipeline import DataConfig
from unrolled_lrp.data.synth import SynthConfig, write_synthetic_voc
from unrolled_lrp.data.voc import load_voc
from unrolled_lrp.training.trainer import TrainConfig

from .explain import Explanation, explain_images

#: The demo's classes: five VOC foreground classes keep the all-class decoder small enough for a CPU.
DEMO_CLASSES = ("background", "aeroplane", "bird", "car", "cat", "person")
#: How many val images the demo explains with the trained unrolled classifier.
EXPLAINED_IMAGES = 3


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: its data settings, the pre-training result, and per model its run directory, its
    training result, its val metrics and their table; the explanation figures (none without unrolled_lrp)."""

    data: DataConfig
    pretrained: dict
    run_dirs: dict[str, Path]
    trained: dict[str, dict]
    val: dict[str, dict]
    tables: dict[str, str]
    figures: list[Explanation]


def demo_data(out_dir: Path, *, num_pixel: int, image_size: int, seed: int) -> DataConfig:
    """The demo's synthetic dataset in ``OUT_DIR/data`` (written unless there) and its data settings."""
    root = out_dir / "data"
    if not (root / "classes.yaml").exists():
        write_synthetic_voc(root, SynthConfig(image_size=image_size, seed=seed, classes=list(DEMO_CLASSES)))
    return DataConfig(
        root=root, classes=root / "classes.yaml", num_pixel=num_pixel, crop_size=image_size, batch_size=10, seed=seed
    )


def run_demo(
    out_dir: Path,
    *,
    num_pixel: int,
    pretrain_steps: int,
    steps: int,
    lr: float,
    models: list[str],
    image_size: int,
    seed: int,
) -> DemoResult:
    """Pre-train a ResNet18 on the image-level labels, train and evaluate each model from it (runs in
    ``OUT_DIR/pretrain`` and ``OUT_DIR/{model}``); explain the first val images with the trained unrolled
    classifier, if unrolled_lrp is among ``models`` (``OUT_DIR/figures``)."""
    data = demo_data(out_dir, num_pixel=num_pixel, image_size=image_size, seed=seed)
    pretrain_optim = TrainConfig(steps=pretrain_steps, lr=1e-3, eval_every=pretrain_steps, seed=seed)
    pretrained = runs.pretrain(data, optim=pretrain_optim, out_dir=out_dir / "pretrain")
    optim = TrainConfig(steps=steps, lr=lr, eval_every=max(1, steps // 4), seed=seed)
    run_dirs = {name: out_dir / name for name in models}
    trained, val, tables = {}, {}, {}
    for name, run_dir in run_dirs.items():
        checkpoint = Path(pretrained["checkpoint"])
        trained[name] = runs.train(data, optim=optim, model=name, classifier_checkpoint=checkpoint, out_dir=run_dir)
        val[name], tables[name] = runs.evaluate_run(data, run_dir=run_dir)
    figures = _explain(data, run_dirs["unrolled_lrp"], out_dir / "figures") if "unrolled_lrp" in run_dirs else []
    return DemoResult(data, pretrained, run_dirs, trained, val, tables, figures)


def _explain(data: DataConfig, run_dir: Path, out_dir: Path) -> list[Explanation]:
    """Figures of the first val images by the classifier of a trained unrolled LRP run."""
    val = load_voc(data.root, data.class_set()).val
    images = sorted(item.image for item in val[:EXPLAINED_IMAGES])
    return explain_images(images, out_dir=out_dir, checkpoint=runs.RunDir(run_dir).best, classes=data.classes)
