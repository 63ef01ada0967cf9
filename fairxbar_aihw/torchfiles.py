"""Saving and loading torch files safely: atomic writes, ``weights_only`` reads, one-line errors.

Why: a run killed mid-save must never leave half a file, a link planted where a checkpoint goes
must not redirect it (``safe_files.write_atomic``), and a torch file is a pickle, so one crafted
by someone else could run code when loaded: only tensors and plain data are accepted.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from .errors import UserError
from .safe_files import safe_mkdir, write_atomic, write_error


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` with ``write_atomic``: readers see the old file or the new one, and
    a link at ``path`` is refused. ``path``'s folder is created if missing as the caller's base
    (a folder the tool keeps below a base is made by the caller with ``safe_mkdir``). A folder that
    cannot be written (read-only, full) is a one-line error naming ``path``; the temporary file is
    this process's own, so two processes writing one file (seed workers decoding one dataset
    cache) never write into each other's half file."""
    try:
        safe_mkdir(path.parent)
        write_atomic(path, lambda handle: torch.save(obj, handle))  # streamed: a cache may be large
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as RuntimeError
        raise write_error(path, exc) from exc


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
