"""Saving and loading torch files safely: atomic writes, ``weights_only`` reads, one-line errors.

Why: a run killed mid-save must never leave half a file, and a torch file is a pickle, so one
crafted by someone else could run code when loaded: only tensors and plain data are accepted.
"""
from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from .errors import UserError


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` via a temporary file, so readers see the old file or the new one.
    A folder that cannot be written (read-only, full, missing) is a one-line error naming ``path``.
    The temporary name is this process's own: two processes writing one file (seed workers
    decoding one dataset cache) never write into each other's half file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:  # opened here, so a failure is an OSError naming the cause
            torch.save(obj, handle)
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as RuntimeError
        with contextlib.suppress(OSError):
            tmp.unlink()
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0][:160]
        where = path  # the file the user knows of, not its temporary twin
        raise UserError(f"cannot write {where} ({reason}); check that its folder is writable and the disk has free "
                        "space, then rerun (finished work is kept)") from exc


CACHE_FIX = "delete it to recompute it"


def load_torch_file(path: Path, what: str, fix: str = CACHE_FIX) -> Any:
    """A torch file of tensors and plain data; anything else is refused with a one-line error.
    ``fix`` ends the error: deleting suits the tool's own caches, never a file the user brought."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" not in str(exc).lower():  # a damaged file, not one naming foreign code
            raise UserError(f"{what} {path} is unreadable or corrupt; {fix}") from exc
        raise UserError(f"{what} {path} holds objects other than tensors and plain data, so it was refused "
                        f"unread; {fix}") from exc
    except Exception as exc:  # torch raises many types for truncated or corrupt files
        raise UserError(f"{what} {path} is unreadable or corrupt ({type(exc).__name__}); {fix}") from exc
