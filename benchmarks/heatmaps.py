"""Speed and peak memory of all-class heatmaps and of a training step, against the alternatives.

Cases, per architecture (batch 2, 21 classes):
  ours_heatmaps      unrolled LRP-0, all-class heatmaps (inference)
  ours_compiled      the same through torch.compile (inductor; compilation in the warm-up call, not timed;
                     opt-in with --cases, compiling takes a minute on CPU)
  ours_train_step    unrolled LRP-0 heatmaps + segmentation and classification losses + backward
  double_backprop    autograd input x gradient for all classes at once (is_grads_batched) + both losses + backward
  zennit_loop        zennit LRP-0 (epsilon 1e-9), one class at a time (inference)
  classifier_step    plain classifier forward + backward (the cost floor)

Each case runs in its own process so that peak memory (max RSS on CPU, max allocated on GPU) is its own.
Usage: python benchmarks/heatmaps.py [--device cuda] [--repeats 3]
       [--archs resnet18@128 resnet50@224 vgg16_bn@224 mobilenet_v2@224]
       [--cases ours_heatmaps ours_compiled ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

CASES = ["ours_heatmaps", "ours_train_step", "double_backprop", "zennit_loop", "classifier_step"]
OPT_IN = ["ours_compiled"]
NUM_CLASSES, BATCH = 21, 2


def losses(heatmaps: torch.Tensor, logits: torch.Tensor, target: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    weight = torch.ones(NUM_CLASSES, device=logits.device)
    weight[0] = 0
    return F.cross_entropy(heatmaps, target, ignore_index=255) + F.binary_cross_entropy_with_logits(
        logits, labels, weight=weight
    )


def make_step(case: str, classifier: torch.nn.Module, x: torch.Tensor):
    from unrolled_lrp import unroll

    target = torch.randint(0, NUM_CLASSES, (BATCH, *x.shape[-2:]), device=x.device)
    labels = torch.randint(0, 2, (BATCH, NUM_CLASSES), device=x.device).float()
    model = unroll(classifier)
    compiled = torch.compile(model) if case == "ours_compiled" else None

    def ours_heatmaps():
        with torch.no_grad():
            model(x)

    def ours_compiled():
        with torch.no_grad():
            compiled(x)

    def ours_train_step():
        out = model(x)
        losses(out.heatmaps, out.logits, target, labels).backward()

    def double_backprop():
        xg = x.detach().requires_grad_(True)
        logits = classifier(xg)
        selectors = torch.eye(NUM_CLASSES, device=x.device)[:, None, :].expand(-1, BATCH, -1)
        (grads,) = torch.autograd.grad(logits, xg, selectors, create_graph=True, is_grads_batched=True)
        heatmaps = (grads * xg).sum(2).transpose(0, 1)
        losses(heatmaps, logits, target, labels).backward()

    def zennit_loop():
        from zennit.attribution import Gradient
        from zennit.canonizers import SequentialMergeBatchNorm
        from zennit.composites import LayerMapComposite
        from zennit.rules import Epsilon
        from zennit.torchvision import ResNetCanonizer, Sum, VGGCanonizer
        from zennit.types import AvgPool, Convolution, Linear

        if isinstance(classifier, torchvision.models.ResNet):
            canonizer = ResNetCanonizer()
        elif isinstance(classifier, torchvision.models.VGG):
            canonizer = VGGCanonizer()
        else:  # MobileNetV2: zennit has no canonizer of its own; BatchNorm merged, timing comparison only
            canonizer = SequentialMergeBatchNorm()
        rules = [(kind, Epsilon(1e-9)) for kind in (Convolution, Linear, AvgPool, Sum)]
        with Gradient(model=classifier, composite=LayerMapComposite(rules, canonizers=[canonizer])) as attributor:
            for k in range(NUM_CLASSES):
                attributor(
                    x, lambda out, k=k: F.one_hot(torch.full_like(out[:, 0], k, dtype=torch.long), NUM_CLASSES) * out
                )

    def classifier_step():
        F.binary_cross_entropy_with_logits(classifier(x), labels).backward()

    return locals()[case]


def run_case(case: str, arch: str, size: int, device: str, repeats: int) -> dict:
    torch.manual_seed(0)
    classifier = getattr(torchvision.models, arch)(num_classes=NUM_CLASSES).to(device)
    classifier.train() if case in ("ours_train_step", "double_backprop", "classifier_step") else classifier.eval()
    x = torch.randn(BATCH, 3, size, size, device=device)
    step = make_step(case, classifier, x)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()  # warm-up
    sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        classifier.zero_grad(set_to_none=True)
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    if device == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_rss) / 1024
    return {"seconds": statistics.median(times), "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--archs", nargs="+", default=["resnet18@128", "resnet50@224", "vgg16_bn@224", "mobilenet_v2@224"]
    )
    parser.add_argument("--cases", nargs="+", default=CASES, choices=CASES + OPT_IN)
    parser.add_argument("--one", nargs=2, metavar=("CASE", "ARCH@SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        arch, size = args.one[1].split("@")
        print(json.dumps(run_case(args.one[0], arch, int(size), args.device, args.repeats)))
        return

    threads = torch.get_num_threads()
    print(f"device={args.device} batch={BATCH} classes={NUM_CLASSES} torch={torch.__version__} threads={threads}")
    header = f"| {'arch@size':<14} | {'case':<16} | {'time (s)':>9} | {'peak MB':>8} | {'time / ours':>11} |"
    print(header + "\n|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for spec in args.archs:
        results = {}
        for case in args.cases:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                case,
                spec,
                "--device",
                args.device,
                "--repeats",
                str(args.repeats),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            results[case] = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
            if results[case] is None:
                print(f"| {spec:<14} | {case:<16} | failed: {proc.stderr.strip().splitlines()[-1][:60]}")
                continue
            ours = results.get("ours_train_step" if case in ("double_backprop", "classifier_step") else "ours_heatmaps")
            ratio = f"{results[case]['seconds'] / ours['seconds']:.2f}x" if ours else "-"
            seconds, peak_mb = results[case]["seconds"], results[case]["peak_mb"]
            print(f"| {spec:<14} | {case:<16} | {seconds:>9.3f} | {peak_mb:>8.0f} | {ratio:>11} |", flush=True)


if __name__ == "__main__":
    main()
