"""The worked example of docs/user-guide.md, "A deployment against its reference": one model's
predictions digital (the reference) and on one simulated analog chip (the deployment).

    python examples/deployment_vs_reference.py deploy-example   # writes reference.csv and deployed.csv
    fairxbar-aihw metrics deploy-example/deployed.csv --reference deploy-example/reference.csv

It trains the tool's small CNN on synthderm (SYNTHETIC images, 16×16 pixels) for a few epochs on
the CPU (under a minute), then predicts the test split twice: with the exact digital weights, and
programmed onto one paper-variation chip (FairXbar §II-C Gaussian device variation). Both files
carry an id column, so their rows are matched by it. Nothing is downloaded.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

import fairxbar_aihw as fx
from fairxbar_aihw.models import build
from fairxbar_aihw.study.chips import ChipEvaluator
from fairxbar_aihw.training import TrainConfig, predict_logits, train

SIZE = 16
NOISE_RATE = 0.1  # the paper-variation preset's own intensity
CHIP = 1  # which chip (the seed of its programming noise)


def write_predictions(path: Path, logits: torch.Tensor, split: fx.data.TensorSplit) -> None:
    """One row per test image: id, true label, prediction, group and the softmax scores."""
    scores = torch.softmax(logits, dim=1).numpy()
    columns = ["id", "label", "pred", "group", *(f"score_{k}" for k in range(scores.shape[1]))]
    rows = [",".join(columns)]
    for i, (y, p, g, s) in enumerate(zip(split.labels.tolist(), logits.argmax(1).tolist(), split.groups.tolist(),
                                         scores)):
        rows.append(",".join([f"test{i:04d}", str(y), str(p), str(g), *(f"{v:.5f}" for v in s)]))
    path.write_text("\n".join(rows) + "\n")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # one thread: float sums in one order, so a rerun repeats these numbers
    splits = fx.data.load("synthderm", seed=0, size=SIZE, n=3000, num_classes=4)
    torch.manual_seed(0)
    model = build("small-cnn", splits.num_classes, SIZE)
    train(model, "small-cnn", splits, TrainConfig(epochs=6, lr=0.003), out / "model.pt", "cpu", progress=False)
    model.eval()
    write_predictions(out / "reference.csv", predict_logits(model, splits.test), splits.test)
    preset = fx.hardware.load_preset("paper-variation", noise_rate=NOISE_RATE)
    chips = ChipEvaluator(model, splits.test, splits.num_classes)
    analog = chips.analog(preset)
    fx.hardware.program(analog, preset, masks=None, seed=CHIP)
    write_predictions(out / "deployed.csv", chips.logits(analog, preset, read_seed=CHIP), splits.test)
    n = len(splits.test)
    print(f"{n} test images ({int(np.sum(splits.test.groups.numpy() == 0))} in group 0): {out / 'reference.csv'} "
          f"(digital), {out / 'deployed.csv'} (paper-variation chip {CHIP}, noise_rate {NOISE_RATE})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy-example"))
