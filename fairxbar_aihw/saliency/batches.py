"""Group-separated batches: the input of every per-group curvature computation."""
from __future__ import annotations

import torch

from ..data.splits import TensorSplit, to_float


def group_batches(split: TensorSplit, n: int, batch: int, seed: int, device: str
                  ) -> dict[int, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Up to ``n`` samples per group, in batches: the curvature input."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for c in (0, 1):
        idx = torch.nonzero(split.groups == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)][:n]
        out[c] = [(to_float(split.images[idx[i : i + batch]]).to(device), split.labels[idx[i : i + batch]].to(device))
                  for i in range(0, len(idx), batch)]
    return out
