"""Project a study's full protocol from measured per-unit rates (bench_stage_units.py --json).

    python benchmarks/project_protocol.py UNITS.json [--study fitz-resnet18] [--train-images 9946]

Counts each seed's units from the study's own plan (``StudyPlan.planned_rows``: sweep chips,
drift readings, arm chips) and its config (epochs, batch, retraining steps and refreshes), and
multiplies them by the measured seconds. The units must be measured at the study's image size,
class count, batch and test-set size, or the projection says so. Fitzpatrick-17k's 16,577
images in the paper's 60/20/20 split give 9,946 training and 3,315 validation and test images.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fairxbar_aihw.study import load_study  # noqa: E402
from fairxbar_aihw.study.keys import RowKey, RowKind  # noqa: E402
from fairxbar_aihw.study.plan import StudyPlan  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("units", help="JSON written by bench_stage_units.py --json")
    ap.add_argument("--study", default="fitz-resnet18")
    ap.add_argument("--train-images", type=int, default=9946)
    ap.add_argument("--val-images", type=int, default=3315)
    ap.add_argument("--trials", type=int, help="chips per cell instead of the study's")
    args = ap.parse_args()
    units = json.loads(Path(args.units).read_text())
    sec = units["seconds"]
    cfg = load_study(args.study)
    if args.trials:
        cfg = cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"trials": args.trials})})
    kinds: Counter[str] = Counter()
    for key, n in StudyPlan(cfg).planned_rows().items():
        kinds[RowKey.parse(key).kind] += n
    steps = args.train_images // cfg.train.batch_size + 1
    rt = cfg.retrain
    refreshes = len(rt.arms) * math.ceil(rt.steps / max(1, rt.refresh_every)) if rt.arms else 0
    per_seed = {
        f"training: {cfg.train.epochs} epochs × {steps} steps (batch {cfg.train.batch_size})":
            cfg.train.epochs * steps * sec["training step"] * cfg.train.batch_size / units["batch"],
        f"validation: {cfg.train.epochs} passes of {args.val_images} images":
            cfg.train.epochs * sec["evaluation"] * args.val_images / units["n_test"],
        f"curvature: {1 + refreshes} estimates (2 × {units['samples']} samples)": (1 + refreshes) * sec["curvature"],
        f"sweep: {kinds[RowKind.SWEEP]} chips": kinds[RowKind.SWEEP] * sec["chip"],
        f"drift: {kinds[RowKind.DRIFT]} readings": kinds[RowKind.DRIFT] * sec["drift read"],
        f"arms: {len(rt.arms)} × {rt.steps} steps, {kinds[RowKind.RETRAIN]} chips":
            len(rt.arms) * rt.steps * sec["arm step"] + kinds[RowKind.RETRAIN] * sec["chip"],
    }
    seeds = len(cfg.seeds)
    shape = (cfg.dataset.size, units["size"], units["classes"])
    print(f"## Projection of `{args.study}` ({seeds} seeds) from {units['model']} @ {units['size']} px, "
          f"{units['classes']} classes on {units['device']}")
    if cfg.model.name != units["model"] or shape[0] != shape[1]:
        print(f"\n*Units measured on {units['model']} @ {shape[1]} px; the study runs {cfg.model.name} @ {shape[0]} px: "
              "scale before trusting.*")
    print("\n| per seed | hours |\n|---|---|")
    for name, s in per_seed.items():
        print(f"| {name} | {s / 3600:.2f} |")
    total = sum(per_seed.values())
    print(f"| **one seed** | **{total / 3600:.2f}** |\n| **{seeds} seeds, one device** | **{seeds * total / 3600:.2f}** |")
    print("\nMeasured unit seconds: " + ", ".join(f"{k} {v:.4f}" for k, v in sec.items()))


if __name__ == "__main__":
    main()
