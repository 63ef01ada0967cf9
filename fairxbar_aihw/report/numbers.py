"""How every report prints a mean with its interval, a sweep target and the synthetic-data banner.

Why one module: the single-seed report, the across-seed report and the claims table print the
same quantities; one formatter each keeps them printing them the same way.
"""
from __future__ import annotations

from typing import Any

import pandas as pd


def pm(mean: float, half: float, scale: float = 1.0, digits: int = 3, signed: bool = False) -> str:
    """``mean ± half`` (both times ``scale``, ``digits`` decimals; ``signed``: a + on gains); "n/a"
    without a mean, the mean alone without an interval."""
    if pd.isna(mean):
        return "n/a"
    sign = "+" if signed else ""
    return f"{mean * scale:{sign}.{digits}f}" + ("" if pd.isna(half) else f" ± {half * scale:.{digits}f}")


def compute_cost(seconds: float, eval_seconds: Any) -> str:
    """Seconds of compute and, when the run timed one digital test-set evaluation, the same in
    eval-equivalents: the machine-independent unit of docs/benchmarks.md."""
    if not eval_seconds:
        return f"{seconds:.0f} s"
    return f"{seconds:.0f} s = {seconds / float(eval_seconds):,.0f} eval-equivalents"


def target_label(t: Any) -> str:
    """A sweep target as the reports print it: a percentage, or "all" for uniform errors."""
    return "all" if t is None or pd.isna(t) else f"{100 * float(t):g}%"


def synthetic_note(synthetic: bool) -> list[str]:
    """The banner on top of a report of a study on generated images (nothing otherwise)."""
    if not synthetic:
        return []
    return ["> **SYNTHETIC DATA.** This study runs on `synthderm`, procedurally generated images made by "
            "fairxbar-aihw. No real patients; numbers here show the pipeline, not clinical behaviour.", ""]
