"""Writing under runs/, report folders and caches so that a planted link cannot redirect a write.

Why: a run or report folder may have been prepared by someone else (an unpacked archive, a shared
disk). Opening ``runs/NAME/.lock`` or ``README.md`` the ordinary way follows a symbolic link planted
there and truncates or overwrites its target. Here every folder below a user-chosen base is created
or checked without following links; every file is written to a new temporary file in its folder
(``O_CREAT | O_EXCL | O_NOFOLLOW``: never an existing file, never through a link) and renamed over
its name (``os.replace`` replaces a link, it never writes through one); a file kept and rewritten
where it lies (the run lock, the results database) must be a regular file with one name. A link
found where the tool writes is a one-line refusal naming it.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, Callable, Union

from .errors import UserError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOT_OURS = "fairxbar-aihw never makes one; delete it (or choose another folder) and rerun"

Content = Union[bytes, bytearray, memoryview, Callable[[BinaryIO], object]]


def _link_refusal(path: Path) -> UserError:
    # the link's target is not quoted: it is someone else's text
    return UserError(f"refusing to write {path}: it is a symbolic link, which would redirect the write elsewhere; "
                     f"{_NOT_OURS}")


def write_error(path: Path, exc: BaseException) -> UserError:
    """The one-line error for a write to ``path`` that failed (read-only, full or missing folder)."""
    reason = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return UserError(f"cannot write {path} ({reason}); check that its folder is writable and the disk has free "
                     "space, then rerun (finished work is kept)")


def refuse_symlink(path: Path, in_place: bool = False) -> None:
    """Refuse ``path`` if it is a symbolic link. With ``in_place`` (a file written where it lies: a
    lock, a database) also if it is not a regular file or has another hard link, since writing
    it would change that other file too. A missing path passes."""
    try:
        st = os.lstat(path)
    except OSError:  # missing, or its folder is unusable: the write itself reports that
        return
    if stat.S_ISLNK(st.st_mode):
        raise _link_refusal(path)
    if in_place and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        raise UserError(f"refusing to write {path}: it is a hard link ({st.st_nlink} names), so writing it would "
                        f"change the other names' file too; give it a copy of its own (cp {path} {path}.copy && "
                        f"mv {path}.copy {path}) and rerun")
    if in_place and not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise UserError(f"refusing to write {path}: it is not a regular file; {_NOT_OURS}")


def safe_mkdir(base: Path, rel: str | Path = "") -> Path:
    """The folder ``base/rel``: ``base`` is the user's choice (created with its parents; it may be a
    link), every folder of ``rel`` below it is created, or found, without following a link."""
    base.mkdir(parents=True, exist_ok=True)
    path = base
    for part in Path(rel).parts:
        if part in (".", "..") or Path(part).is_absolute():
            raise ValueError(f"safe_mkdir: {rel!r} must be a relative path without '.' or '..'")
        path = path / part
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
            continue
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise UserError(f"refusing to use folder {path}: it is a symbolic link, which would move the tool's files "
                            f"elsewhere; {_NOT_OURS}")
        if not stat.S_ISDIR(st.st_mode):
            raise UserError(f"{path} is a file where fairxbar-aihw keeps a folder; move it away and rerun")
    return path


def write_atomic(path: Path, content: Content) -> Path:
    """Write ``content`` (bytes, or a function writing to a binary file) to ``path`` in an existing
    folder: readers see the old file or the new one, a killed write leaves no half file, a link at
    ``path`` is refused and no existing file is written through. Errors are one line naming ``path``."""
    refuse_symlink(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
    except FileExistsError:  # a fresh random name taken: planted, never ours
        raise UserError(f"refusing to write {tmp}: a file of that name appeared before the tool made it; "
                        f"{_NOT_OURS}") from None
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(content):
                content(handle)
            else:
                handle.write(content)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from exc
        raise
    return path


def open_in_place(path: Path) -> int:
    """A descriptor for reading and rewriting ``path`` where it lies (created if missing), the run
    lock's way; a link (symbolic or hard) or anything but a regular file there is refused unopened."""
    refuse_symlink(path, in_place=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0), 0o666)
    except OSError as exc:
        if os.path.islink(path):  # planted between the check and the open
            raise _link_refusal(path) from exc
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        refuse_symlink(path, in_place=True)
        raise UserError(f"refusing to write {path}: it is not a regular file with one name; {_NOT_OURS}")
    return fd
