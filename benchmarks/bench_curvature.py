"""Per-group curvature cost of each estimator relative to one plain backward pass.

    python benchmarks/bench_curvature.py [--model resnet18] [--size 64] [--samples 512] [--probes 8]

Issue target: Hutchinson with 8 probes ≤ 20× one backward over the same samples.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fairxbar_aihw as fx  # noqa: E402
from _timing import interleaved, print_ratios  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--samples", type=int, default=512, help="per group")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--estimators", default="hutchinson,ggn-exact,ggn-mc,fisher,hessian-exact")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = fx.models.build(args.model, 8, args.size).to(args.device).eval()
    x = torch.randn(args.samples, 3, args.size, args.size).to(args.device)
    y = torch.randint(0, 8, (args.samples,)).to(args.device)
    batches = [(x[i : i + args.batch], y[i : i + args.batch]) for i in range(0, args.samples, args.batch)]

    def backward() -> None:
        for xb, yb in batches:
            model.zero_grad()
            F.cross_entropy(model(xb), yb).backward()

    variants = {"one backward pass": backward}
    for est in args.estimators.split(","):
        def run(est: str = est) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fx.saliency.curvature(model, {0: batches}, est, probes=args.probes)
        variants[f"{est}" + (f" ({args.probes} probes)" if est == "hutchinson" else "")] = run
    times = interleaved(variants, args.repeats)
    print_ratios(f"curvature for one group: {args.model} @ {args.size}px, {args.samples} samples, "
                 f"{args.device}, torch threads {torch.get_num_threads()}", times, "one backward pass")


if __name__ == "__main__":
    main()
