"""What loading a dataset leaves out, in words: the kinds of skipped images and rows.

Why apart from ``loading``: reports print the stored skip counts and must not import torch.
"""
from __future__ import annotations

# What a skipped image is, by ``real.skip_kind`` (and a listed image that is not there).
SKIP_LABELS = {"missing_image": "listed image not found", "corrupt": "corrupt or unreadable image",
               "truncated": "truncated or damaged image", "decompression_bomb": "decompression bomb (too many pixels)"}


def describe_skips(counts: dict[str, int]) -> str:
    """Skip counts as one line: "skipped: 0 × listed image not found, 1 × corrupt or unreadable image, ..."."""
    def label(kind: str) -> str:
        return SKIP_LABELS.get(kind) or "row dropped (" + kind.replace("_", " ") + ")"
    shown = {k: n for k, n in counts.items() if k in SKIP_LABELS or n}  # image kinds always, row reasons when any
    return "skipped: " + ", ".join(f"{n} × {label(k)}" for k, n in shown.items())
