"""Skin tone from pixels: the Individual Typology Angle (ITA), for images without skin-type labels.

ITA = arctan((L* − 50) / b*) · 180/π on CIELAB colour (Chardon, Cretois & Hourseau, "Skin colour
typology and suntanning pathways", Int J Cosmet Sci 13(4), 1991): high for light skin, low for dark.
Del Bino & Bernerd ("Variations in skin colour and the biological consequences of ultraviolet
radiation exposure", Br J Dermatol 169 s3, 2013) split it into six categories (``ITA_CATEGORIES``),
and Kinyanjui et al. ("Fairness of classifiers across skin tones in dermatology", MICCAI 2020)
used those categories on the healthy skin around lesions to estimate Fitzpatrick-like skin tone
where datasets have no labels.

Which pixels: a colorimeter measures a patch of healthy skin, so the lesion must be left out.
Without lesion masks, this module takes the image's border ring (the outer ``ring`` share of
the side on every edge; lesions are photographed centred), drops its near-black pixels (L* <
``MIN_SKIN_L``: a dermoscope's vignette, shadow, dark hair; skin as dark as ITA −60° with b* = 15
still has L* = 24) and takes the *median* L* and b* of the rest, so up to half of those may be
lesion, ruler or hair before the estimate moves much.
ITA is computed with ``atan2``, which equals the formula for b* > 0 (every skin colour) and stays
finite for grey pixels (b* = 0 gives ±90°: a greyscale image is not skin).

The colour conversion is written out (sRGB IEC 61966-2-1 → linear → XYZ, D65 → CIE 1976 L*a*b*)
and vectorised in torch, so no colour library is needed.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import DataError

# sRGB (linear) → CIE XYZ under D65, IEC 61966-2-1; rows sum to the D65 white point below.
RGB_TO_XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                           [0.2126729, 0.7151522, 0.0721750],
                           [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
DELTA = 6 / 29  # CIE 1976: the cube root's linear segment below DELTA³

# Del Bino & Bernerd 2013: lower bound of each category (degrees), lightest first.
ITA_CATEGORIES = (("very light", 55.0), ("light", 41.0), ("intermediate", 28.0), ("tan", 10.0),
                  ("brown", -30.0), ("dark", -math.inf))
# Light vs dark: intermediate/tan, where Kinyanjui et al.'s mapping puts Fitzpatrick III/IV, the
# split the built-in datasets use (light = types I-III, group 1).
DEFAULT_ITA_THRESHOLD = 28.0
DEFAULT_RING = 0.1
MIN_SKIN_L = 10.0  # darker ring pixels are vignette, shadow or hair, not skin


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """CIELAB (L*, a*, b*) of sRGB colours in [0, 1], channels on the last axis (float64)."""
    c = rgb.to(torch.float64)
    linear = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    t = (linear @ RGB_TO_XYZ.T) / D65_WHITE
    f = torch.where(t > DELTA ** 3, t.clamp(min=0) ** (1 / 3), t / (3 * DELTA ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(-1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-1)


def ring_mask(height: int, width: int, ring: float = DEFAULT_RING) -> torch.Tensor:
    """(H, W) bool: pixels within ``ring`` of the side from any edge (at least one pixel)."""
    if not 0 < ring < 0.5:
        raise DataError(f"the ITA border ring must be a share of the side in (0, 0.5), got {ring}")
    rows, cols = max(1, math.ceil(ring * height)), max(1, math.ceil(ring * width))
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[:rows], mask[-rows:], mask[:, :cols], mask[:, -cols:] = True, True, True, True
    return mask


def ita(images: torch.Tensor, ring: float = DEFAULT_RING, chunk: int = 4096) -> np.ndarray:
    """Each image's ITA in degrees (numpy float64, shape (N,)) from uint8 (N, 3, H, W) RGB images:
    ``atan2(L* − 50, b*)`` of the median L* and b* over the border ring's pixels that are not
    near-black; NaN for an image with no such pixel."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 \
            or images.shape[1] != 3:
        what = f"{images.dtype} of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) \
            else type(images).__name__
        raise DataError(f"ita() takes uint8 RGB images shaped (N, 3, H, W), got {what}")
    mask = ring_mask(images.shape[2], images.shape[3], ring)
    out = np.empty(images.shape[0], dtype=np.float64)
    for i in range(0, images.shape[0], chunk):  # ring pixels only, in chunks: memory stays small
        pixels = images[i: i + chunk][:, :, mask].transpose(1, 2).to(torch.float64) / 255.0  # (n, P, 3)
        lab = srgb_to_lab(pixels)
        lab[lab[..., 0] < MIN_SKIN_L] = math.nan
        lab = lab.nanmedian(dim=1).values  # (n, 3): median L*, a*, b* of the skin pixels
        out[i: i + chunk] = torch.rad2deg(torch.atan2(lab[:, 0] - 50, lab[:, 2])).numpy()
    return out


def ita_category(angles: np.ndarray) -> np.ndarray:
    """Index into ``ITA_CATEGORIES`` (0 = very light … 5 = dark) of each angle."""
    bounds = np.array([b for _, b in ITA_CATEGORIES[:-1]])
    return (np.asarray(angles)[:, None] <= bounds[None, :]).sum(axis=1)


def ita_group_names(threshold: float) -> dict[int, str]:
    return {0: f"dark (ITA ≤ {threshold:g}°)", 1: f"light (ITA > {threshold:g}°)"}


def groups_from_pixels(images: torch.Tensor, group_from: str | None, ita_threshold: float | None = None
                       ) -> tuple[np.ndarray, dict[int, str]]:
    """The groups ``dataset.group_from`` asks for (only ``ita`` so far): 1 = light (ITA above the
    threshold; privileged, as the built-in datasets code light skin), 0 = dark; and their names. An error
    when the threshold puts every image in one group."""
    groups, names, _ = _pixel_groups(images, group_from, ita_threshold)
    return groups, names


def bands_from_pixels(images: torch.Tensor, group_from: str | None, ita_threshold: float | None = None,
                      bands: Sequence[float] | None = None
                      ) -> tuple[np.ndarray, dict[int, str], np.ndarray, list[str]]:
    """``groups_from_pixels`` plus each image's ITA band (``dataset.groups: all``): the six standard
    categories of Del Bino & Bernerd 2013, or ``bands`` (lower bounds in degrees, lightest first);
    returns (groups, group names, band ids, band names). Bands no image falls in are left out."""
    groups, names, angles = _pixel_groups(images, group_from, ita_threshold)
    bounds, band_names = band_bounds(bands)
    ids = (angles[:, None] <= np.asarray(bounds)[None, :]).sum(axis=1)
    used = np.unique(ids)
    return groups, names, np.searchsorted(used, ids), [band_names[i] for i in used]


def pixel_groups(images: torch.Tensor, group_from: str | None, ita_threshold: float | None, all_values: bool,
                 bands: Sequence[float] | None = None
                 ) -> tuple[np.ndarray, dict[int, str], np.ndarray | None, list[str] | None]:
    """What a dataset's loader needs when its groups come from the pixels: light/dark groups with
    their names, and with ``all_values`` (``dataset.groups: all``) each image's ITA band and the
    band names (else None, None)."""
    if all_values:
        return bands_from_pixels(images, group_from, ita_threshold, bands)
    return (*groups_from_pixels(images, group_from, ita_threshold), None, None)


def band_bounds(bands: Sequence[float] | None) -> tuple[list[float], list[str]]:
    """Lower bounds (all but the darkest band's) and names of the ITA bands, lightest first."""
    if bands is None:
        return [b for _, b in ITA_CATEGORIES[:-1]], [n for n, _ in ITA_CATEGORIES]
    bounds = [float(b) for b in bands]
    if not bounds or any(a <= b for a, b in zip(bounds, bounds[1:])) or not all(-90 <= b <= 90 for b in bounds):
        raise DataError(f"dataset.ita_bands must be band boundaries in degrees in (-90, 90), lightest first and "
                        f"strictly falling (e.g. [41, 28, 10]); got {list(bands)}")
    names = [f"ITA > {bounds[0]:g}°"] + [f"{lo:g}° < ITA ≤ {hi:g}°" for hi, lo in zip(bounds, bounds[1:])] \
        + [f"ITA ≤ {bounds[-1]:g}°"]
    return bounds, names


def _pixel_groups(images: torch.Tensor, group_from: str | None, ita_threshold: float | None
                  ) -> tuple[np.ndarray, dict[int, str], np.ndarray]:
    """Light/dark groups by the ITA threshold, their names and every image's angle."""
    if group_from != "ita":
        raise DataError(f"group_from must be 'ita' (groups from skin tone), got {group_from!r}"
                        + (" with ita_threshold" if group_from is None else ""))
    threshold = DEFAULT_ITA_THRESHOLD if ita_threshold is None else float(ita_threshold)
    angles = ita(images)
    blank = np.flatnonzero(np.isnan(angles))
    if len(blank):
        raise DataError(f"{len(blank)} image(s) have no skin in their border, only near-black pixels (first: image "
                        f"{blank[0]} in the table's order); crop the vignette or leave those images out")
    groups = (angles > threshold).astype(np.int64)
    if groups.min() == groups.max():
        q = np.percentile(angles, [10, 50, 90])
        raise DataError(f"ita_threshold {threshold:g}° puts all {len(groups)} images in the "
                        f"{'light' if groups[0] else 'dark'} group (ITA 10/50/90th percentiles: {q[0]:.1f}, "
                        f"{q[1]:.1f}, {q[2]:.1f}°); choose a threshold between them")
    return groups, ita_group_names(threshold), angles


def ita_summary(angles: np.ndarray, groups: np.ndarray, group_names: dict[int, str],
                skin_types: np.ndarray | None = None, threshold: float = DEFAULT_ITA_THRESHOLD) -> dict[str, Any]:
    """What `data check` prints: ITA quartiles per group and, where images carry a labelled
    Fitzpatrick type (1-6), per type, with Spearman's rho and the light/dark agreement."""
    def quartiles(a: np.ndarray) -> dict[str, float]:
        q = np.percentile(a, [25, 50, 75]) if len(a) else [math.nan] * 3
        return {"n": int(len(a)), "q25": float(q[0]), "median": float(q[1]), "q75": float(q[2])}

    known = ~np.isnan(angles)  # images without a skin pixel in their border are counted, not summarised
    angles, groups = angles[known], groups[known]
    out: dict[str, Any] = {"threshold": threshold, "no_skin_pixels": int((~known).sum()),
                           "by_group": {group_names[c]: quartiles(angles[groups == c]) for c in (0, 1)}}
    if skin_types is not None:
        skin_types = skin_types[known]
        from scipy.stats import spearmanr

        out["by_type"] = {int(t): quartiles(angles[skin_types == t]) for t in np.unique(skin_types)}
        out["spearman_rho"] = float(spearmanr(skin_types, angles).statistic)
        out["agreement"] = float(np.mean((angles > threshold) == (skin_types <= 3)))
    return out


ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}


def ita_lines(summary: dict[str, Any]) -> list[str]:
    """``ita_summary`` as the lines `data check` prints (quartiles with each median's category)."""
    def row(name: str, q: dict[str, float]) -> str:
        if not q["n"]:
            return f"  {name[:30]:30s} n={q['n']:<6d}"
        category = ITA_CATEGORIES[int(ita_category(np.array([q["median"]]))[0])][0]
        return (f"  {name[:30]:30s} n={q['n']:<6d} median {q['median']:6.1f}  [{q['q25']:6.1f}, {q['q75']:6.1f}]  "
                f"{category}")

    lines = [f"skin tone from pixels (ITA in degrees, median [quartiles]; light > {summary['threshold']:g}°):"]
    lines += [row(name, q) for name, q in summary["by_group"].items()]
    if summary["no_skin_pixels"]:
        lines.append(f"  {summary['no_skin_pixels']} image(s) have only near-black pixels in their border: no ITA")
    if "by_type" in summary:
        lines += [row(f"Fitzpatrick {ROMAN.get(t, t)} (labelled)", q) for t, q in summary["by_type"].items()]
        lines.append(f"  ITA vs labelled type: Spearman rho {summary['spearman_rho']:.3f}; light/dark agreement at "
                     f"{summary['threshold']:g}°: {100 * summary['agreement']:.1f}%")
    return lines
