"""User-facing errors: one line that names the problem and the fix.

The CLI prints ``UserError`` messages without a traceback and exits with code 2;
anything else is a bug and keeps its traceback under ``--debug``.
"""
from __future__ import annotations

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
