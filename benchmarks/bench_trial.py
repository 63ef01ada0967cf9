"""Cost of one Monte-Carlo trial (program + test-set eval) relative to one digital test-set eval.

    python benchmarks/bench_trial.py [--model small-cnn] [--size 32] [--n-test 1200] [--device cpu]

Variants: digital eval (reference); fast path (aihwkit programming + read-back into a digital
shadow + eval); aihwkit analog forward (programming + TorchInferenceTile forward), ideal MVM;
aihwkit analog forward with the IO-realistic PCM periphery.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fairxbar_aihw as fx  # noqa: E402
from _timing import interleaved, print_ratios  # noqa: E402
from fairxbar_aihw.data.splits import TensorSplit  # noqa: E402
from fairxbar_aihw.hardware import program_chip  # noqa: E402
from fairxbar_aihw.study.chips import ChipEvaluator  # noqa: E402
from fairxbar_aihw.training.evaluation import predict_logits  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="small-cnn")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--n-test", type=int, default=1200)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variants", default="fast,analog,io",
                    help="which MC-trial variants to time next to the digital eval (analog/io are slow on CPU)")
    args = ap.parse_args()
    torch.manual_seed(0)
    test = TensorSplit(torch.randint(0, 256, (args.n_test, 3, args.size, args.size), dtype=torch.uint8),
                       torch.randint(0, 4, (args.n_test,)), torch.randint(0, 2, (args.n_test,)))
    model = fx.models.build(args.model, 4, args.size).to(args.device).eval()
    ideal = fx.hardware.load_preset("paper-variation")
    io = fx.hardware.load_preset("pcm-io-realistic")
    engine = ChipEvaluator(model, test, 4, args.device)  # the study's own path
    am_fast = engine.analog(ideal)  # programmed on the CPU, read back into a shadow on the device
    am = fx.hardware.to_analog(model, ideal, device=args.device)
    am_io = fx.hardware.to_analog(model, io, device=args.device)
    for m, p in ((am_fast, ideal), (am, ideal), (am_io, io)):
        fx.hardware.install_overrides(m, p, None)

    def fast() -> None:
        program_chip(am_fast, 1)
        engine.logits(am_fast, ideal, read_seed=1)

    def analog() -> None:
        program_chip(am, 1)
        predict_logits(am, test, args.device)

    def analog_io() -> None:
        program_chip(am_io, 1)
        predict_logits(am_io, test, args.device)

    chosen = args.variants.split(",")
    variants = {"digital eval": lambda: predict_logits(model, test, args.device)}
    for key, name, fn in (("fast", "MC trial, fast path", fast),
                          ("analog", "MC trial, aihwkit forward (ideal MVM)", analog),
                          ("io", "MC trial, aihwkit forward (IO-realistic)", analog_io)):
        if key in chosen:
            variants[name] = fn
    times = interleaved(variants, args.repeats)
    print_ratios(f"MC trial vs digital eval: {args.model} @ {args.size}px, {args.n_test} test images, "
                 f"{args.device}, torch threads {torch.get_num_threads()}", times, "digital eval")


if __name__ == "__main__":
    main()
