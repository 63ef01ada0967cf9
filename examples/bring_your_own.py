"""The offline worked example of docs/bring-your-own.md: a model trained on synthderm, exported,
then audited as if it were someone else's.

    python examples/bring_your_own.py byo-example   # writes byo-example/{data,model.onnx(.data),model_state.pt,model.safetensors}

It trains the tool's small CNN on synthderm's training split (SYNTHETIC images) for a few epochs,
exports it as ONNX (torch.onnx, weights in model.onnx.data beside it), as a state dict and as
safetensors, and writes the images it never saw (validation and
test splits) as PNG files with a labels.csv whose group column has three values (light; dark and
medium share the unprivileged group). Nothing is downloaded.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

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
    torch.onnx.export(model, (x,), str(out / "model.onnx"), dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.save(model.state_dict(), out / "model_state.pt")
    save_file(model.state_dict(), str(out / "model.safetensors"))
    print(f"{k} images in {data}; classes in output order: {','.join(splits.class_names)}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "byo-example"))
