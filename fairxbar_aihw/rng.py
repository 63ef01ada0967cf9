"""Seeded random streams that leave the global ones untouched."""
from __future__ import annotations

import contextlib
import hashlib
from typing import Any, Iterator

import torch


@contextlib.contextmanager
def seeded_rng(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Seed the generators a computation draws from (the CPU's, and ``device``'s if it is a GPU),
    restoring them afterwards: the computation gives the same result whenever it runs, and running
    it never shifts the random stream of anything else (so a resumed study matches an unbroken one)."""
    dev = torch.device(device)
    gpus = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus, device_type="cuda"):
        torch.manual_seed(int(seed))
        yield


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from named parts (study seed, preset, intensity, trial, ...): the same parts
    give the same seed on every machine and Python version (sha256, not ``hash``)."""
    blob = "|".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


# Every seed a study derives, by what it seeds. The formulas are frozen: a changed one would give
# resumed runs other chips, batches or probes than the rows already stored (tests pin their values).

def chip_seed(study_seed: int, preset: str, intensity: float | None, trial: int) -> int:
    """Monte-Carlo chip ``trial`` of a hardware setting: the same chip for every method (paired
    comparisons) and for the retraining emulator's chip ``trial``."""
    return derive_seed(study_seed, preset, intensity, trial)


def read_seed(chip_seed: int, t_inference: float | None) -> int:
    """Seed of the forward-pass noise when chip ``chip_seed`` is read at ``t_inference``."""
    return (chip_seed * 1_000_003 + 7 + int(t_inference or 0)) % (2**63 - 1)


def drift_seed(chip_seed: int, t_inference: float) -> int:
    """Seed of the drift read noise of chip ``chip_seed`` at ``t_inference`` seconds."""
    return int(chip_seed) * 1_000_003 + int(t_inference) % 1_000_003


def curvature_seed(seed: int, group: int) -> int:
    """Seed of group ``group``'s curvature probes (Hutchinson) or sampled labels (ggn-mc)."""
    return seed + 7919 * group


def saliency_batches_seed(study_seed: int) -> int:
    """Seed of the training samples the baseline's per-group curvature is computed on."""
    return study_seed + 17


def arm_batch_seed(seed: int, arm: str) -> int:
    """Seed of a fine-tuning arm's group-separated mini-batches."""
    return derive_seed(seed, arm)


def arm_refresh_seed(seed: int, arm: str, step: int) -> int:
    """Seed of a fine-tuning arm's curvature and masks refreshed at ``step``."""
    return derive_seed(seed, arm, step)


def validation_chip_seed(seed: int, k: int) -> int:
    """Seed of validation chip ``k`` that picks a fine-tuning arm's checkpoint (paper step 5)."""
    return derive_seed(seed, "validation chip", k)
