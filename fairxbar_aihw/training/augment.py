"""Training-time augmentation on uint8 batches: none, flips (cheap), or the paper's recipe."""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import UserError

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _none(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return x


def _flips(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal and vertical flips, vectorised (lesions have no canonical orientation)."""
    h = torch.rand(x.shape[0], generator=gen) < 0.5
    v = torch.rand(x.shape[0], generator=gen) < 0.5
    x = x.clone()
    x[h] = x[h].flip(-1)
    x[v] = x[v].flip(-2)
    return x


def _paper() -> Augment:
    """Paper §V: flip, rotation, scaling and AutoAugment (per image; slower)."""
    from torchvision.transforms import v2

    pipeline = v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=20, scale=(0.9, 1.1)),
        v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET),
    ])

    def apply(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        with torch.random.fork_rng(devices=[]):  # the images are still on the CPU here
            torch.manual_seed(seed)
            return torch.stack([pipeline(img) for img in x])

    return apply


def get_augment(name: str) -> Augment:
    if name == "none":
        return _none
    if name == "flip":
        return _flips
    if name == "paper":
        return _paper()
    raise UserError(f"unknown augmentation '{name}'; choose none, flip or paper")
