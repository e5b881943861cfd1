"""Does the input pipeline keep up with the training step? Images per second and the data-wait share.

1. Pipeline alone: images per second that ``training_batches`` delivers with 0, 1, 2 DataLoader workers on the
   CamVid photos (480x360 JPEGs: decode, random scale, flip, colour jitter, normalise, crop; 5 pixel-labelled
   and 5 image-level images per batch), worker start-up included.
2. The real training loop (``trainer.train``, unrolled LRP, AdamW, CPU) per architecture and worker count: the
   images per second a step consumes and the share of the wall time spent waiting for the next batch, in the
   steady state (from step 2 on: step 1 includes the start of the workers and the first batch, which nothing
   overlaps). Both come from the TensorBoard scalars the loop writes.
3. ``--compile_arch``: the same loop eager and with ``optim.compile``; steady-state step time and the time of
   the first step, which includes the compilation.

Usage: python benchmarks/pipeline.py [--archs resnet50 mobilenet_v2] [--crop 256] [--workers 0 1 2] [--steps 4]
       [--compile_arch resnet18 --compile_crop 128] [--root ../shared/datasets/camvid]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from unrolled_lrp.data.pipeline import DataConfig, TrainingData, build_training_data, training_batches
from unrolled_lrp.lrp import UnsupportedLayerError
from unrolled_lrp.models import build_classifier, build_model
from unrolled_lrp.runs import RunDir
from unrolled_lrp.training.trainer import TrainConfig, train

CAMVID = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "camvid"


def pipeline_rate(data: TrainingData, batches: int) -> float:
    """Images per second delivered by the loader alone (nothing consumes them)."""
    start = time.perf_counter()
    with training_batches(data, seed=0, steps=range(batches)) as loaded:
        images = sum(len(batch.ids) for batch in loaded)
    return images / (time.perf_counter() - start)


def loop_figures(run: RunDir, batch_size: int) -> dict[str, float]:
    """Steady-state step time, images per second and data-wait share (steps 2..N), and the first step's time,
    recovered from the cumulative pace scalars and the wall times of the per-step TensorBoard events."""
    events = EventAccumulator(str(run.tensorboard))
    events.Reload()
    rates, shares = events.Scalars("pace/images_per_s"), events.Scalars("pace/data_wait")
    elapsed = [(k + 1) * batch_size / rate.value for k, rate in enumerate(rates)]
    waited = [share.value * seconds for share, seconds in zip(shares, elapsed, strict=True)]
    steady = elapsed[-1] - elapsed[0]
    return {
        "first_step_s": elapsed[0],
        "step_s": steady / (len(elapsed) - 1),
        "images_per_s": (len(elapsed) - 1) * batch_size / steady,
        "data_wait": (waited[-1] - waited[0]) / steady,
    }


def run_loop(data: TrainingData, arch: str, num_classes: int, steps: int, compile_model: bool) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_model("unrolled_lrp", build_classifier(arch, num_classes), num_classes)
    optim = TrainConfig(steps=steps, lr=1e-5, log_every=1, eval_every=10**9, compile=compile_model)
    with tempfile.TemporaryDirectory() as run_dir:
        run = RunDir(Path(run_dir))
        train(model, data=data, optim=optim, run=run, class_names=[str(k) for k in range(num_classes)])
        return loop_figures(run, len(data.sampler.batch(0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=CAMVID)
    parser.add_argument("--archs", nargs="*", default=["resnet50", "mobilenet_v2"])
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pipeline_batches", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="training steps per case (at least 3)")
    parser.add_argument("--compile_arch", default="", help="also time eager vs optim.compile on this arch")
    parser.add_argument("--compile_crop", type=int, default=128)
    args = parser.parse_args()
    config = DataConfig(
        root=args.root,
        classes=args.root / "classes.yaml",
        num_pixel=20,
        batch_size=args.batch_size,
        crop_size=args.crop,
    )
    data = build_training_data(config)
    num_classes = config.class_set().num_classes
    print(f"{args.root}: batch {args.batch_size}, crop {args.crop}, {torch.get_num_threads()} torch threads")
    print("\n| workers | pipeline images/s |\n|---|---|")
    for workers in args.workers:
        print(f"| {workers} | {pipeline_rate(replace(data, workers=workers), args.pipeline_batches):.1f} |", flush=True)
    print("\n| arch | workers | step s | step images/s | data wait |\n|---|---|---|---|---|")
    for arch in args.archs:
        for workers in args.workers:
            try:
                loop = run_loop(replace(data, workers=workers), arch, num_classes, args.steps, compile_model=False)
            except (ValueError, UnsupportedLayerError) as error:
                print(f"| {arch} | - | skipped: {str(error).split(';')[0]} | | |", flush=True)
                break
            print(
                f"| {arch} | {workers} | {loop['step_s']:.2f} | {loop['images_per_s']:.2f} | "
                f"{100 * loop['data_wait']:.1f}% |",
                flush=True,
            )
    if args.compile_arch:
        small = build_training_data(replace(config, crop_size=args.compile_crop, workers=1))
        print(f"\ncompile, {args.compile_arch} at crop {args.compile_crop}, 1 worker")
        print("| mode | first step s | step s |\n|---|---|---|")
        times = {}
        for compile_model in (False, True):
            loop = run_loop(small, args.compile_arch, num_classes, args.steps, compile_model)
            times[compile_model] = loop["step_s"]
            mode = "compiled" if compile_model else "eager"
            print(f"| {mode} | {loop['first_step_s']:.2f} | {loop['step_s']:.3f} |", flush=True)
        print(f"speed-up of the steady-state step: {times[False] / times[True]:.2f}x")


if __name__ == "__main__":
    main()
