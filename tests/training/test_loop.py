"""The training loop on real hardware: exact resume across worker counts, compiled steps, NaN stops,
gradient clipping and TensorBoard scalars (a tiny unrolled-LRP network on the tiny synthetic VOC)."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from unrolled_lrp.data.pipeline import DataConfig, build_training_data
from unrolled_lrp.lrp import LRPConfig
from unrolled_lrp.models.unrolled import UnrolledSegmenter
from unrolled_lrp.runs import RunDir
from unrolled_lrp.training.checkpoint import load
from unrolled_lrp.training.safety import TrainingDiverged
from unrolled_lrp.training.trainer import TrainConfig, train

NAMES = ["background", "cat", "dog"]


def _segmenter(lrp: LRPConfig = LRPConfig()) -> UnrolledSegmenter:
    torch.manual_seed(0)
    classifier = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, len(NAMES)),
    )
    return UnrolledSegmenter(classifier, len(NAMES), lrp)


@pytest.fixture(scope="module")
def data(tiny_voc):
    config = DataConfig(root=tiny_voc, classes=tiny_voc / "classes.yaml", num_pixel=6, batch_size=4, crop_size=32)
    return build_training_data(replace(config, workers=0))


def _train(data, run_dir, workers=0, lrp: LRPConfig = LRPConfig(), **options):
    model = _segmenter(lrp)
    optim = TrainConfig(**{"steps": 4, "lr": 1e-2, "eval_every": 2, "log_every": 1, **options})
    best = train(model, data=replace(data, workers=workers), optim=optim, run=RunDir(run_dir), class_names=NAMES)
    return model, best


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def test_a_run_resumed_with_another_number_of_workers_ends_with_the_same_weights(data, tmp_path, single_thread):
    straight, _ = _train(data, tmp_path / "straight", workers=0)
    _train(data, tmp_path / "resumed", workers=2, steps=2)
    resumed, _ = _train(data, tmp_path / "resumed", workers=1)
    _assert_same_weights(straight, resumed)


def test_an_untied_composite_run_trains_both_weights_and_resumes_bit_identical(data, tmp_path, single_thread):
    lrp = LRPConfig(composite="epsilon_gamma_box", low=-2.2, high=2.7, decoder_weights="untied")
    start = _segmenter(lrp).state_dict()
    straight, _ = _train(data, tmp_path / "straight", lrp=lrp)
    _train(data, tmp_path / "resumed", lrp=lrp, steps=2)
    resumed, _ = _train(data, tmp_path / "resumed", lrp=lrp)
    _assert_same_weights(straight, resumed)
    end = straight.state_dict()
    for part in ("unrolled.decoder.weights.", "unrolled.classifier."):
        moved = [key for key in start if key.startswith(part) and not torch.equal(start[key], end[key])]
        assert moved, f"no {part} weight was trained"
    assert torch.equal(
        end["unrolled.decoder.weights.0"], load(tmp_path / "resumed" / "last.pt")["model"]["unrolled.decoder.weights.0"]
    )


@pytest.mark.slow  # compiling forward and backward takes about a minute on a 2-core CPU
def test_the_compiled_step_matches_eager_without_graph_breaks(data, tmp_path, single_thread):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    eager, _ = _train(data, tmp_path / "eager", steps=2, eval_every=2)
    compiled, _ = _train(data, tmp_path / "compiled", steps=2, eval_every=2, compile=True)
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert counters["stats"]["unique_graphs"] >= 1  # it did compile
    eager_log = (tmp_path / "eager" / "log.csv").read_text().splitlines()
    compiled_log = (tmp_path / "compiled" / "log.csv").read_text().splitlines()
    for row, other in zip(eager_log, compiled_log, strict=True):
        assert [float(v) for v in row.split(",")] == pytest.approx([float(v) for v in other.split(",")], rel=1e-4)
    for (name, x), y in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(y.grad, x.grad, rtol=1e-4, atol=1e-6, msg=name)  # the last step's gradients


def test_a_diverging_run_stops_naming_the_step_and_keeps_the_last_good_checkpoint(data, tmp_path, single_thread):
    with pytest.raises(TrainingDiverged, match=r"step 2: loss (nan|inf).*last good checkpoint .*last\.pt is kept"):
        _train(data, tmp_path, lr=1e30, eval_every=1)  # step 1 makes the weights ~1e30, step 2 overflows
    saved = load(tmp_path / "last.pt")
    assert saved["step"] == 1
    assert all(torch.isfinite(value).all() for value in saved["model"].values() if value.is_floating_point())


def test_grad_clip_bounds_the_gradient_norm_of_every_step(data, tmp_path, single_thread):
    model, _ = _train(data, tmp_path, steps=1, grad_clip=1e-3)
    norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None))
    assert norm == pytest.approx(1e-3, rel=1e-3)  # the unclipped norm is far larger
    with pytest.raises(ValueError, match="grad_clip"):
        TrainConfig(grad_clip=0.0)


def test_losses_lr_holdout_miou_and_pace_go_to_tensorboard(data, tmp_path, single_thread):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _train(data, tmp_path, steps=2)
    events = EventAccumulator(str(RunDir(tmp_path).tensorboard))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {"loss/total", "loss/seg", "loss/cls", "lr", "holdout/miou", "pace/images_per_s", "pace/data_wait"}
    assert expected <= tags
    assert [event.step for event in events.Scalars("loss/total")] == [1, 2]
    assert 0 <= events.Scalars("pace/data_wait")[-1].value <= 1
