"""User-facing errors: one line that names the problem and the fix.

The CLI prints ``UserError`` messages without a traceback and exits with code 2;
anything else is a bug and keeps its traceback under ``--debug``.
"""
from __future__ import annotations

import errno
from typing import Any, Iterable


class UserError(ValueError):
    """A problem with the user's input or environment, with the fix in the message."""


class DataError(UserError):
    """A dataset root, CSV or image is missing or malformed."""


class ConfigError(UserError):
    """A preset or study file is invalid (unknown key, bad range, unknown name)."""


class DataWarning(UserWarning):
    """Input that was used but may not mean what the user thinks (rows skipped, a likely class-order
    mix-up); the CLI prints it as one ``warning:`` line on stderr."""


def listing(items: Iterable[Any], limit: int = 8) -> str:
    """``items`` joined for a one-line message: the first ``limit`` and a count of the rest, so a
    message about a long list (columns, files, layers, values) stays one readable line."""
    shown = [str(i) for i in items]
    head = ", ".join(shown[:limit])
    return head + (f" ... and {len(shown) - limit} more" if len(shown) > limit else "")


def clipped(text: str, limit: int = 80) -> str:
    """``text`` on one line, cut to ``limit`` characters (a value quoted in a message)."""
    one = " ".join(text.split("\n"))
    return one if len(one) <= limit else one[: limit - 1] + "…"


QUOTE_LIMIT = 40  # characters of a value read from a user's file that an error may show


def quote_value(text: object, limit: int = QUOTE_LIMIT) -> str:
    """``text`` (read from a user's file: a column name, a group value, an image path) as an error
    may show it: non-printable characters escaped (a newline as ``\\n``, NUL as ``\\x00``), cut to
    ``limit`` characters. Why one rule: a file may be anything (a private key named as a CSV), so
    no message repeats more of it than the short value the message is about."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def quoted_listing(values: Iterable[Any], limit: int = 8) -> str:
    """``listing`` of values read from a user's file, each shown through ``quote_value``."""
    return listing((quote_value(v) for v in values), limit)


def header_listing(columns: Iterable[Any]) -> str | None:
    """A CSV's column names for a message, or None when they are not short printable names (the
    file is then named, not shown: its first line may be anything, such as a key)."""
    names = [str(c) for c in columns]
    if not names or any(not n.isprintable() or len(n) > QUOTE_LIMIT for n in names):
        return None
    return listing(names)


OS_FIXES = {  # errno → the fix
    errno.ENOSPC: "free space on its disk",
    errno.EDQUOT: "free space within your disk quota",
    errno.EACCES: "fix the folder's permissions or use another folder",
    errno.EPERM: "fix the folder's permissions or use another folder",
    errno.EROFS: "use a writable folder",
    errno.ENAMETOOLONG: "a name in the path is longer than the file system allows (ENAMETOOLONG: at most 255 "
                        "bytes a name); use a shorter name",
    errno.ENOENT: "create the missing folder or fix the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; fix the path",
}
PATH_LIMIT = 160  # characters of a path an error shows


def environment_error(exc: BaseException) -> "UserError | None":
    """The one-line error of a failed file or database operation (disk full, read-only folder,
    name too long), naming the file and the fix; None for any other exception. Why here: the
    command line and a study's worker processes print the same line for the same cause."""
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        return UserError(f"results database: {quote_value(exc, PATH_LIMIT)}; free space or fix the runs folder's "
                         "permissions, then rerun (committed rows are kept)")
    if not isinstance(exc, OSError):
        return None
    where = f" {quote_value(exc.filename, PATH_LIMIT)}" if exc.filename else ""
    fix = OS_FIXES.get(exc.errno or 0, "free space or fix the folder's permissions")
    return UserError(f"cannot write or read{where}: {exc.strerror or quote_value(exc, PATH_LIMIT)}; {fix}, then "
                     "rerun (finished work is kept)")
