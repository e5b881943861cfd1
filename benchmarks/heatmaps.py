"""Speed and peak memory of all-class heatmaps and of a training step, against the alternatives.

Cases, per architecture (batch 2, 21 classes), each with the case its ratio is taken against:
  ours_heatmaps        unrolled LRP-0, all-class heatmaps (inference)
  ours_compiled        the same through torch.compile (inductor; compilation in the warm-up call, not timed;
                       opt-in with --cases, compiling takes a minute on CPU)                      / ours_heatmaps
  ours_train_step      unrolled LRP-0 heatmaps + segmentation and classification losses + backward
  double_backprop      autograd input x gradient for all classes at once (is_grads_batched) + both losses
                       + backward                                                                 / ours_train_step
  zennit_loop          zennit LRP-0 (epsilon 1e-9), one class at a time (inference)               / ours_heatmaps
  classifier_step      plain classifier forward + backward (the cost floor)                       / ours_train_step
  ours_composite       unrolled --composite (default epsilon_gamma_box), all-class heatmaps       / ours_heatmaps
  zennit_composite     zennit's composite of that name, one class at a time (inference)           / ours_composite
  ours_composite_step  ours_train_step with --composite                                           / ours_train_step
Targets of issue 17: zennit_composite / ours_composite >= 3; ours_composite_step / ours_train_step <= 1.5.

Each case runs in its own process so that peak memory (max RSS on CPU, max allocated on GPU) is its own.
Usage: python benchmarks/heatmaps.py [--device cuda] [--repeats 3] [--composite epsilon_gamma_box]
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

from unrolled_lrp.data.transforms import input_range

#: every case and the case its time is divided by (None: a baseline)
BASELINE = {
    "ours_heatmaps": None,
    "ours_train_step": None,
    "double_backprop": "ours_train_step",
    "zennit_loop": "ours_heatmaps",
    "classifier_step": "ours_train_step",
    "ours_composite": "ours_heatmaps",
    "zennit_composite": "ours_composite",
    "ours_composite_step": "ours_train_step",
    "ours_compiled": "ours_heatmaps",
}
OPT_IN = ["ours_compiled"]
CASES = [case for case in BASELINE if case not in OPT_IN]
TRAIN_CASES = ("ours_train_step", "double_backprop", "classifier_step", "ours_composite_step")
#: zennit's composites that the library's presets of the same names mean
COMPOSITES = ["epsilon_gamma_box", "epsilon_plus", "epsilon_plus_flat", "epsilon_alpha2_beta1_flat"]
NUM_CLASSES, BATCH = 21, 2


def losses(heatmaps: torch.Tensor, logits: torch.Tensor, target: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    weight = torch.ones(NUM_CLASSES, device=logits.device)
    weight[0] = 0
    return F.cross_entropy(heatmaps, target, ignore_index=255) + F.binary_cross_entropy_with_logits(
        logits, labels, weight=weight
    )


def class_relevance(k: int):
    """zennit's output relevance for class k: ``one_hot(k) * logits``, as the library's."""
    return lambda out: F.one_hot(torch.full_like(out[:, 0], k, dtype=torch.long), NUM_CLASSES) * out


def zennit_canonizers(classifier: torch.nn.Module) -> list:
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetCanonizer, VGGCanonizer

    if isinstance(classifier, torchvision.models.ResNet):
        return [ResNetCanonizer()]
    if isinstance(classifier, torchvision.models.VGG):
        return [VGGCanonizer()]
    # MobileNetV2: zennit has no canonizer of its own (tests/composite_references.py adds its residual sums and
    # pooling as modules, for exactness); BatchNorm merged, which is what costs: a timing comparison
    return [SequentialMergeBatchNorm()]


def zennit_composite(name: str, classifier: torch.nn.Module, x: torch.Tensor):
    from zennit.composites import COMPOSITES as ZENNIT_COMPOSITES
    from zennit.composites import LayerMapComposite
    from zennit.rules import Epsilon
    from zennit.torchvision import Sum
    from zennit.types import AvgPool, Convolution, Linear

    canonizers = zennit_canonizers(classifier)
    if name == "zero":  # LRP-0 (epsilon 1e-9)
        rules = [(kind, Epsilon(1e-9)) for kind in (Convolution, Linear, AvgPool, Sum)]
        return LayerMapComposite(rules, canonizers=canonizers)
    if name == "epsilon_gamma_box":
        low, high = (torch.tensor(b, device=x.device)[None, :, None, None].expand_as(x) for b in input_range())
        return ZENNIT_COMPOSITES[name](low=low, high=high, canonizers=canonizers)
    return ZENNIT_COMPOSITES[name](canonizers=canonizers)


def make_step(case: str, classifier: torch.nn.Module, x: torch.Tensor, composite: str):
    from unrolled_lrp import unroll

    target = torch.randint(0, NUM_CLASSES, (BATCH, *x.shape[-2:]), device=x.device)
    labels = torch.randint(0, 2, (BATCH, NUM_CLASSES), device=x.device).float()
    low, high = input_range()
    model = unroll(classifier, composite=composite, low=low, high=high) if "composite" in case else unroll(classifier)
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

    def zennit_loop(name: str = "zero"):
        from zennit.attribution import Gradient

        with Gradient(model=classifier, composite=zennit_composite(name, classifier, x)) as attributor:
            for k in range(NUM_CLASSES):
                attributor(x, class_relevance(k))

    def classifier_step():
        F.binary_cross_entropy_with_logits(classifier(x), labels).backward()

    steps = {
        "ours_composite": ours_heatmaps,
        "zennit_composite": lambda: zennit_loop(composite),
        "ours_composite_step": ours_train_step,
        **locals(),
    }
    return steps[case]


def run_case(case: str, arch: str, size: int, device: str, repeats: int, composite: str) -> dict:
    torch.manual_seed(0)
    classifier = getattr(torchvision.models, arch)(num_classes=NUM_CLASSES).to(device)
    classifier.train() if case in TRAIN_CASES else classifier.eval()
    x = torch.randn(BATCH, 3, size, size, device=device)
    step = make_step(case, classifier, x, composite)
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
    parser.add_argument("--cases", nargs="+", default=CASES, choices=list(BASELINE))
    parser.add_argument("--composite", default="epsilon_gamma_box", choices=COMPOSITES)
    parser.add_argument("--one", nargs=2, metavar=("CASE", "ARCH@SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        arch, size = args.one[1].split("@")
        print(json.dumps(run_case(args.one[0], arch, int(size), args.device, args.repeats, args.composite)))
        return

    threads = torch.get_num_threads()
    print(
        f"device={args.device} batch={BATCH} classes={NUM_CLASSES} composite={args.composite} "
        f"torch={torch.__version__} threads={threads}"
    )
    header = (
        f"| {'arch@size':<14} | {'case':<19} | {'time (s)':>9} | {'peak MB':>8} | {'ratio':>6} | {'relative to':<15} |"
    )
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
                "--composite",
                args.composite,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            results[case] = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
            if results[case] is None:
                print(f"| {spec:<14} | {case:<19} | failed: {proc.stderr.strip().splitlines()[-1][:60]}")
                continue
            baseline = BASELINE[case]
            reference = results.get(baseline) if baseline else None
            ratio = f"{results[case]['seconds'] / reference['seconds']:.2f}x" if reference else "-"
            seconds, peak_mb = results[case]["seconds"], results[case]["peak_mb"]
            row = f"| {spec:<14} | {case:<19} | {seconds:>9.3f} | {peak_mb:>8.0f} | {ratio:>6} | {baseline or '':<15} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
