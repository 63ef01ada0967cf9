"""The offline worked example of docs/bring-your-own.md: a model trained on synthderm, exported,
then audited as if it were someone else's.

    python examples/bring_your_own.py byo-example      # writes byo-example/{data,model.pt2,model.ts,model_state.pt}

It trains the tool's small CNN on synthderm's training split (SYNTHETIC images) for a few epochs,
exports it with torch.export (.pt2), as TorchScript and as a state dict, and writes the images it never saw (validation and
test splits) as PNG files with a labels.csv whose group column has three values (light; dark and
medium share the unprivileged group). Nothing is downloaded.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import fairxbar_aihw as fx
from fairxbar_aihw.models import build
from fairxbar_aihw.training import TrainConfig, train

SIZE = 32


def main(out: Path) -> None:
    data = out / "data"
    (data / "img").mkdir(parents=True, exist_ok=True)
    splits = fx.data.load("synthderm", seed=0, size=SIZE, n=5000, num_classes=4)
    rng = np.random.default_rng(0)
    rows, k = ["image,label,skin"], 0
    for split in (splits.val, splits.test):  # only images the model never trained on
        for img, y, g in zip(split.images, split.labels, split.groups):
            name = f"img/{k:05d}.png"
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(data / name)
            value = "light" if int(g) == 1 else ("dark" if rng.random() < 0.5 else "medium")
            rows.append(f"{name},{splits.class_names[int(y)]},{value}")
            k += 1
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    torch.manual_seed(0)
    model = build("small-cnn", splits.num_classes, SIZE)
    train(model, "small-cnn", splits, TrainConfig(epochs=8, lr=0.002, batch_size=128), out / "training.pt", "cpu",
          progress=True)
    model.eval()
    x = torch.rand(2, 3, SIZE, SIZE)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(out / "model.pt2"))
    # TorchScript (torch.jit.script is deprecated in torch 2.14) for users whose deployed models are still .ts files
    torch.jit.save(torch.jit.script(model), str(out / "model.ts"))
    torch.save(model.state_dict(), out / "model_state.pt")
    print(f"{k} images in {data}; classes in output order: {','.join(splits.class_names)}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "byo-example"))
