"""Batched chips: K programmed chips evaluated in one pass (torch.func.vmap over stacked effective
weights) vs K one-at-a-time fast-path evaluations.

    python benchmarks/bench_batched_chips.py [--chips 8] [--n-test 1200] [--device cpu]

Kept in the engine only if faster; on the 2-core CPU it is not (see docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fairxbar_aihw as fx  # noqa: E402
from _timing import interleaved, print_ratios  # noqa: E402
from fairxbar_aihw.data.splits import to_float  # noqa: E402
from fairxbar_aihw.hardware import effective_weights, load_into_digital, program_chip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chips", type=int, default=8)
    ap.add_argument("--n-test", type=int, default=1200)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    x = to_float(torch.randint(0, 256, (args.n_test, 3, args.size, args.size), dtype=torch.uint8)).to(args.device)
    model = fx.models.build("small-cnn", 4, args.size).to(args.device).eval()
    preset = fx.hardware.load_preset("paper-variation")
    am = fx.hardware.to_analog(model, preset, device="cpu")  # chips are programmed on the CPU, as in studies
    fx.hardware.install_overrides(am, preset, None)
    shadows = [copy.deepcopy(model) for _ in range(args.chips)]

    def program_all() -> None:
        for k, shadow in enumerate(shadows):
            program_chip(am, k)
            load_into_digital(shadow, effective_weights(am))

    @torch.no_grad()
    def one_at_a_time() -> None:
        program_all()
        for shadow in shadows:
            for i in range(0, len(x), 512):
                shadow(x[i : i + 512])

    @torch.no_grad()
    def batched() -> None:
        program_all()
        params, buffers = stack_module_state(shadows)
        base = copy.deepcopy(shadows[0]).to("meta")

        def run(p, b, xb):
            return functional_call(base, (p, b), (xb,))

        for i in range(0, len(x), 512):
            vmap(run, in_dims=(0, 0, None))(params, buffers, x[i : i + 512])

    times = interleaved({"one chip at a time": one_at_a_time, f"{args.chips} chips batched (vmap)": batched},
                        args.repeats)
    print_ratios(f"{args.chips} chips, small-cnn @ {args.size}px, {args.n_test} images, {args.device}", times,
                 "one chip at a time")


if __name__ == "__main__":
    main()
