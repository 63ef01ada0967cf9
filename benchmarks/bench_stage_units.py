"""Every stage's unit of work in eval-equivalents, beside the floor it could reach.

    python benchmarks/bench_stage_units.py --model resnet18 --size 16 [--threads 1] [--repeats 3]

The unit is one digital test-set evaluation (``--n-test`` images, the study's own
``predict_logits``), timed in the same run. Each stage's unit of work is timed through the
library's own code and set beside its floor (issue 33):
- a chip or a drift reading: one test-set evaluation;
- a training step (and a pruning fine-tune step): one forward and backward pass of its batch;
- an arm step: one forward and backward pass of its batch on the emulated chip, plus its share of
  the mask refreshes (one curvature estimate every ``--refresh-every`` steps);
- a curvature estimate (the exact diagonal GGN, two groups of ``--samples``): one forward pass and
  one backward pass per column of the loss Hessian's square root that the estimate backpropagates
  over the samples (Dangel, Kunstner & Hennig, ICLR 2020): V − 1 for V classes on the autograd path
  (``exact_ggn.loss_hessian_root``), V through BackPACK; the row says which.
Workers run one torch thread each, so ``--threads 1`` (the default) times what a study's worker sees.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fairxbar_aihw as fx  # noqa: E402
from _timing import interleaved  # noqa: E402
from fairxbar_aihw.data.splits import TensorSplit, to_float  # noqa: E402
from fairxbar_aihw.hardware import drift, install_overrides, program_chip  # noqa: E402
from fairxbar_aihw.retrain.emulation import ChipEmulator  # noqa: E402
from fairxbar_aihw.saliency import exact_ggn  # noqa: E402
from fairxbar_aihw.saliency.estimators import FAST_EXACT, curvature, weight_param_names  # noqa: E402
from fairxbar_aihw.study.chips import ChipEvaluator  # noqa: E402
from fairxbar_aihw.training.evaluation import predict_logits  # noqa: E402
from fairxbar_aihw.training.steps import optimise  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--n-test", type=int, default=1175)
    ap.add_argument("--batch", type=int, default=128, help="training / arm batch")
    ap.add_argument("--samples", type=int, default=512, help="curvature samples per group")
    ap.add_argument("--curv-batch", type=int, default=64)
    ap.add_argument("--estimator", default="ggn-exact")
    ap.add_argument("--refresh-every", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="also write the unit seconds here (benchmarks/project_protocol.py reads them)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    k, s = args.classes, args.size
    test = TensorSplit(torch.randint(0, 256, (args.n_test, 3, s, s), dtype=torch.uint8),
                       torch.randint(0, k, (args.n_test,)), torch.randint(0, 2, (args.n_test,)))
    dev = args.device
    model = fx.models.build(args.model, k, s).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    xb = to_float(torch.randint(0, 256, (args.batch, 3, s, s), dtype=torch.uint8)).to(dev)
    yb = torch.randint(0, k, (args.batch,)).to(dev)
    groups = {g: [(to_float(torch.randint(0, 256, (args.curv_batch, 3, s, s), dtype=torch.uint8)).to(dev),
                   torch.randint(0, k, (args.curv_batch,)).to(dev)) for _ in range(args.samples // args.curv_batch)]
              for g in (0, 1)}
    preset = fx.hardware.load_preset("paper-variation").with_intensity(0.3)
    engine = ChipEvaluator(model, test, k, dev)
    amodel = engine.analog(preset)
    install_overrides(amodel, preset, None)
    drift_preset = fx.hardware.load_preset("pcm-ibm")
    dmodel = engine.analog(drift_preset)
    install_overrides(dmodel, drift_preset, None)
    emulator = ChipEmulator(model, preset, None, 0)

    def evaluation() -> None:
        predict_logits(model, test, dev)

    def chip() -> None:
        program_chip(amodel, 1)
        engine.logits(amodel, preset, 1)

    def drift_read() -> None:
        program_chip(dmodel, 1)
        drift(dmodel, drift_preset, 86400.0, 1)
        engine.logits(dmodel, drift_preset, 1)

    def fwd_bwd() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()

    def train_step() -> None:
        optimise(model, opt, 1, lambda _: (xb, yb), lambda b: F.cross_entropy(model(b[0]), b[1]))

    def arm_step() -> None:
        optimise(model, opt, 1, lambda _: (xb, yb), lambda b: F.cross_entropy(model(b[0]), b[1]),
                 around=lambda _: emulator.perturbed(None, 1))

    def estimate() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            curvature(model, groups, args.estimator)

    # the columns of the loss Hessian's root the estimate backpropagates: V − 1 by autograd
    # (``exact_ggn.loss_hessian_root``), V through BackPACK
    names = weight_param_names(model)
    passes = k - 1 if FAST_EXACT and exact_ggn.applies(model, names, args.estimator) else k

    def curvature_floor() -> None:
        """One forward and ``passes`` backward passes over each group's samples (the exact GGN's
        columns), with weight gradients (standing in for the per-sample squares)."""
        model.eval()
        for batches in groups.values():
            for x, _ in batches:
                out = model(x)
                for c in range(passes):
                    model.zero_grad(set_to_none=True)
                    out[:, c].sum().backward(retain_graph=c < passes - 1)

    units = {"evaluation": evaluation, "chip": chip, "drift read": drift_read, "fwd+bwd": fwd_bwd,
             "training step": train_step, "arm step": arm_step, "curvature": estimate,
             "curvature floor": curvature_floor}
    t = interleaved(units, args.repeats)
    ev = t["evaluation"]
    arm = t["arm step"] + t["curvature"] / args.refresh_every
    arm_floor = t["fwd+bwd"] + t["curvature floor"] / args.refresh_every
    rows = [("chip (program + test-set pass)", t["chip"], ev, "one evaluation"),
            ("drift reading (program + drift + pass)", t["drift read"], ev, "one evaluation"),
            (f"training step (batch {args.batch})", t["training step"], t["fwd+bwd"], "fwd+bwd of the batch"),
            (f"curvature estimate ({args.estimator}, 2 × {args.samples})", t["curvature"], t["curvature floor"],
             f"1 fwd + {passes} bwd per sample"),
            (f"arm step (emulated chip, refresh every {args.refresh_every})", arm, arm_floor,
             "fwd+bwd + refresh share")]
    params = sum(p.numel() for p in model.parameters())
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "size": s, "classes": k, "n_test": args.n_test,
                                               "batch": args.batch, "samples": args.samples, "device": dev,
                                               "threads": args.threads, "seconds": t}, indent=1))
    print(f"## {args.model} @ {s}px, {k} classes, {params / 1e6:.2f} M parameters, {args.n_test} test images, "
          f"{dev}, {args.threads} thread(s): one evaluation = {ev:.3f} s")
    print("| unit | seconds | eval-equivalents | floor (eval-eq) | floor is | ratio to floor |")
    print("|---|---|---|---|---|---|")
    for name, sec, floor, what in rows:
        print(f"| {name} | {sec:.3f} | {sec / ev:.3f} | {floor / ev:.3f} | {what} | {sec / floor:.2f}× |")
    print()


if __name__ == "__main__":
    main()
