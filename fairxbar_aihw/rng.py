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
