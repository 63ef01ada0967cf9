"""Shared timing helper: interleaved repeats so machine noise hits every variant alike."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def _sync() -> None:
    """GPU work is asynchronous: wait for it before reading the clock."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def interleaved(variants: dict[str, Callable[[], object]], repeats: int = 5) -> dict[str, float]:
    """Median seconds per call of each variant, measured round-robin in one run."""
    for fn in variants.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            _sync()
            t = time.perf_counter()
            fn()
            _sync()
            samples[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


def print_ratios(title: str, times: dict[str, float], reference: str) -> None:
    print(f"## {title}")
    print(f"| variant | median s | ratio to {reference} |")
    print("|---|---|---|")
    for name, sec in times.items():
        print(f"| {name} | {sec:.4f} | {sec / times[reference]:.2f}x |")
    print()
