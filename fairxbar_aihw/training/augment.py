"""Training-time augmentation on uint8 batches: none, flips (cheap), or the paper's recipe."""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import UserError
from .config import AUGMENTS

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


# Each ``train.augment`` choice as a factory of its augmentation: the paper's builds its torchvision
# pipeline only when chosen. A new augmentation is one entry here and its name in ``config.AUGMENTS``.
AUGMENT_FACTORIES: dict[str, Callable[[], Augment]] = {
    "none": lambda: _none,
    "flip": lambda: _flips,
    "paper": _paper,
}
assert set(AUGMENT_FACTORIES) == set(AUGMENTS), "every train.augment choice needs its augmentation"


def get_augment(name: str) -> Augment:
    """The augmentation a ``train.augment`` name stands for."""
    if name not in AUGMENT_FACTORIES:
        raise UserError(f"unknown augmentation '{name}'; choose {', '.join(AUGMENT_FACTORIES)}")
    return AUGMENT_FACTORIES[name]()
