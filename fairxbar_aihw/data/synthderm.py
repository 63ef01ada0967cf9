"""synthderm: procedurally generated, dermatology-like images (SYNTHETIC — no real patients).

Why it exists: the whole pipeline must run anywhere with no downloads, and the question
under study needs a model with a real accuracy gap between skin-tone groups. Each image is a
Fitzpatrick I–VI skin background with shading and pore-scale noise and one lesion whose class
sets its shape (radius, elongation, border irregularity), colour, texture and rim. Lesion
contrast falls on darker skin (less light reflected, so lesion and skin colours converge),
which is the optical effect that makes classifiers weaker on dark skin. Group 1 = light
(types I–III, privileged), group 0 = dark (IV–VI).

Generation is vectorised in torch and seeded: the same arguments give the same images.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError, listing

if TYPE_CHECKING:
    from .splits import Splits

SKIN_RGB = torch.tensor(
    [
        [0.96, 0.84, 0.76],  # I
        [0.90, 0.75, 0.64],  # II
        [0.80, 0.62, 0.50],  # III
        [0.64, 0.46, 0.34],  # IV
        [0.46, 0.31, 0.22],  # V
        [0.30, 0.20, 0.14],  # VI
    ]
)

# name, rgb, radius, elongation, border irregularity, texture, rim (+ lighter / − darker)
CLASS_SPECS = [
    ("nevus", (0.42, 0.26, 0.17), 0.34, 1.0, 0.03, 0.05, 0.0),
    ("melanoma", (0.28, 0.17, 0.14), 0.38, 1.1, 0.10, 0.30, 0.0),
    ("basal-cell", (0.80, 0.52, 0.52), 0.30, 1.2, 0.05, 0.08, 0.35),
    ("keratosis", (0.55, 0.42, 0.26), 0.32, 1.5, 0.07, 0.30, 0.0),
    ("vascular", (0.72, 0.16, 0.22), 0.24, 1.0, 0.04, 0.05, 0.0),
    ("dermatofibroma", (0.58, 0.40, 0.34), 0.28, 1.0, 0.04, 0.08, -0.35),
]
MAX_CLASSES = 114  # Fitzpatrick-17k's fine-grained label count (the paper's class count)
SPEC_SEED = 17  # the procedural classes beyond the six above: fixed, so class k looks the same in every study
SPEC_RANGES = ((0.15, 0.85), (0.15, 0.85), (0.15, 0.85), (0.22, 0.40), (1.0, 1.8), (0.02, 0.12), (0.03, 0.35),
               (-0.35, 0.35))  # rgb, radius, elongation, border irregularity, texture, rim


def class_specs(num_classes: int) -> list[tuple[Any, ...]]:
    """The first ``num_classes`` class specs: the six hand-made classes, then procedural ones (each
    parameter drawn uniformly from ``SPEC_RANGES`` with a fixed seed), so a study can have as many
    classes as the paper's Fitzpatrick-17k split (114) and the first six never change."""
    rng = np.random.default_rng(SPEC_SEED)
    extra = rng.uniform([lo for lo, _ in SPEC_RANGES], [hi for _, hi in SPEC_RANGES],
                        size=(MAX_CLASSES - len(CLASS_SPECS), len(SPEC_RANGES)))
    procedural = [(f"condition-{i + len(CLASS_SPECS) + 1:03d}", tuple(row[:3]), *row[3:])
                  for i, row in enumerate(extra.tolist())]
    return (CLASS_SPECS + procedural)[:num_classes]


_SPEC_TABLE = torch.tensor([[*s[1], *s[2:]] for s in class_specs(MAX_CLASSES)], dtype=torch.float32)
GROUP_NAMES = {0: "dark (Fitzpatrick IV-VI)", 1: "light (Fitzpatrick I-III)"}


def _smooth_noise(gen: torch.Generator, b: int, size: int, cells: int, channels: int = 1) -> torch.Tensor:
    """Low-frequency noise field in [-1, 1]-ish: random grid upsampled bilinearly."""
    grid = torch.randn(b, channels, cells, cells, generator=gen)
    return F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)


def _generate_chunk(
    gen: torch.Generator, labels: torch.Tensor, fitz: torch.Tensor, size: int, difficulty: float
) -> torch.Tensor:
    b = labels.shape[0]
    spec = _SPEC_TABLE[labels]  # (b, 8)
    rgb, radius, elong, irr, texture, rim = (
        spec[:, 0:3], spec[:, 3], spec[:, 4], spec[:, 5], spec[:, 6], spec[:, 7],
    )
    jitter = 0.35 * difficulty
    radius = radius * (1 + jitter * 0.6 * (torch.rand(b, generator=gen) - 0.5))
    elong = 1 + (elong - 1) * (1 + jitter * torch.randn(b, generator=gen)).clamp(min=0)
    irr = (irr * (1 + jitter * torch.randn(b, generator=gen))).clamp(min=0)
    texture = (texture * (1 + jitter * torch.randn(b, generator=gen))).clamp(min=0)
    rgb = (rgb + 0.10 * difficulty * torch.randn(b, 3, generator=gen)).clamp(0.02, 0.98)

    lin = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    cx = 0.25 * (torch.rand(b, 1, 1, generator=gen) - 0.5)
    cy = 0.25 * (torch.rand(b, 1, 1, generator=gen) - 0.5)
    ang = math.pi * torch.rand(b, 1, 1, generator=gen)
    dx, dy = xx[None] - cx, yy[None] - cy
    u = (dx * torch.cos(ang) + dy * torch.sin(ang)) / elong[:, None, None]
    v = -dx * torch.sin(ang) + dy * torch.cos(ang)
    dist = torch.sqrt(u * u + v * v)
    theta = torch.atan2(v, u)
    harmonics = torch.arange(2, 8, dtype=torch.float32)[None, :, None, None]
    amp = torch.randn(b, harmonics.shape[1], 1, 1, generator=gen) / harmonics.sqrt()
    phase = 2 * math.pi * torch.rand(b, harmonics.shape[1], 1, 1, generator=gen)
    wobble = (amp * torch.cos(harmonics * theta[:, None] + phase)).sum(1)
    r_theta = radius[:, None, None] * (1 + irr[:, None, None] * wobble).clamp(min=0.3)
    edge = 0.02 + 0.02 * torch.rand(b, 1, 1, generator=gen)
    mask = torch.sigmoid((r_theta - dist) / edge)  # (b, H, W)
    ring = torch.exp(-(((dist / r_theta) - 0.8) ** 2) / 0.01) * mask

    # Skin: type colour, per-image jitter, slow shading, fine pore noise.
    skin = SKIN_RGB[fitz - 1] + 0.03 * torch.randn(b, 3, generator=gen)
    shade = 1 + 0.08 * _smooth_noise(gen, b, size, 3)
    pores = 1 + 0.04 * torch.randn(b, 1, size, size, generator=gen)
    skin_img = skin[:, :, None, None] * shade * pores

    # Lesion: class colour with texture and rim; darker skin absorbs more, so the lesion's
    # colour is pulled toward the skin's (contrast falls with the Fitzpatrick type).
    tex_field = _smooth_noise(gen, b, size, max(4, size // 6), 1) + 0.25 * _smooth_noise(gen, b, size, 6, 3)
    tex = 1 + texture[:, None, None, None] * tex_field
    lesion = rgb[:, :, None, None] * tex * (1 + rim[:, None, None, None] * ring[:, None])
    contrast = (1.0 - 0.12 * (fitz.float() - 1)) / max(difficulty, 1e-3) ** 0.5
    contrast = contrast.clamp(0.05, 1.0)[:, None, None, None]
    lesion = skin_img + contrast * (lesion - skin_img)
    img = skin_img * (1 - mask[:, None]) + lesion * mask[:, None]
    img = img + 0.03 * difficulty * torch.randn(b, 3, size, size, generator=gen)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # not POSIX
        return None


def _check_count(n: Any, size: int) -> int:
    """``n`` as a whole number of images whose uint8 pixels (n·3·size²) fit in half this machine's
    memory: a mistyped count fails at once with a line, not after allocating for minutes."""
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise UserError(f"synthderm n (dataset.params.n) must be a whole number of images, got {n!r}")
    total = memory_bytes()
    need = int(n) * 3 * size * size
    if total is not None and need > total // 2:
        raise UserError(f"synthderm n={n} at {size}×{size} pixels needs {need / 1e9:.1f} GB for its images, over half "
                        f"this machine's {total / 1e9:.1f} GB memory; use dataset.params.n ≤ "
                        f"{total // 2 // (3 * size * size)} or a smaller dataset.size")
    return int(n)


def generate(
    n: int = 6000,
    size: int = 32,
    num_classes: int = 4,
    light_fraction: float = 0.5,
    difficulty: float = 1.0,
    seed: int = 0,
    chunk: int = 256,
) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    """Images (n,3,size,size) uint8, labels, groups (1 = light) and Fitzpatrick types."""
    if not 2 <= num_classes <= MAX_CLASSES:
        raise UserError(f"synthderm num_classes must be 2..{MAX_CLASSES}, got {num_classes}")
    if not 8 <= size <= 512:
        raise UserError(f"synthderm size (resolution) must be 8..512 pixels, got {size}")
    if not 0.0 < light_fraction < 1.0:
        raise UserError(f"synthderm light_fraction must be in (0, 1), got {light_fraction}")
    n = _check_count(n, size)
    if n < 10 * num_classes:
        raise UserError(f"synthderm n={n} is too small: use at least {10 * num_classes} images")
    if not 0.0 < difficulty <= 5.0:
        raise UserError(f"synthderm difficulty must be in (0, 5], got {difficulty}")
    gen = torch.Generator().manual_seed(int(seed))
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    light = torch.rand(n, generator=gen) < light_fraction
    fitz = torch.where(light, 1, 4) + torch.randint(0, 3, (n,), generator=gen)
    images = torch.cat(
        [_generate_chunk(gen, labels[i : i + chunk], fitz[i : i + chunk], size, difficulty)
         for i in range(0, n, chunk)]
    )
    return images, labels.numpy(), light.long().numpy(), fitz.numpy()


def class_names(num_classes: int) -> list[str]:
    return [spec[0] for spec in class_specs(num_classes)]


def load_splits(size: int = 32, seed: int = 0, balance: bool = True, group_from: str | None = None,
                ita_threshold: float | None = None, groups: str | None = None, ita_bands: list[float] | None = None,
                min_group_size: int | None = None, **params: Any) -> "Splits":
    """synthderm as seeded, stratified splits (the dataset registry's loader for ``synthderm``);
    ``group_from="ita"`` groups the images by their pixels' skin tone instead of their true type;
    ``groups="all"`` also keeps each image's Fitzpatrick type I–VI (or its ITA band) as its group value."""
    from .groups import DEFAULT_MIN_GROUP_SIZE, FITZPATRICK
    from .skin_tone import pixel_groups
    from .splits import make_splits

    unknown = set(params) - {"n", "num_classes", "light_fraction", "difficulty"}
    if unknown:
        raise UserError(f"unknown synthderm parameter(s): {listing(sorted(unknown))}; use n, num_classes, "
                        "light_fraction, difficulty")
    images, labels, binary, fitz = generate(size=size, seed=seed, **params)
    group_names = dict(GROUP_NAMES)
    every = groups == "all"
    values, value_names = (fitz - 1, list(FITZPATRICK)) if every else (None, None)
    if group_from is not None or ita_threshold is not None:
        binary, group_names, values, value_names = pixel_groups(images, group_from, ita_threshold, every, ita_bands)
    k = int(params.get("num_classes", 4))
    return make_splits(
        images, labels, binary, seed, balance, values=values, value_names=value_names, skin_types=fitz,
        min_group_size=(min_group_size or DEFAULT_MIN_GROUP_SIZE) if every else None,
        num_classes=k, class_names=class_names(k), group_names=group_names,
        synthetic=True, name="synthderm",
        info={"note": "SYNTHETIC images generated by fairxbar-aihw (no real patients)",
              "fitzpatrick_counts": np.bincount(fitz, minlength=7)[1:].tolist(), **params},
    )
