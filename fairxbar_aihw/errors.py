"""User-facing errors: one line that names the problem and the fix.

The CLI prints ``UserError`` messages without a traceback and exits with code 2;
anything else is a bug and keeps its traceback under ``--debug``.
"""
from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input or environment, with the fix in the message."""


class DataError(UserError):
    """A dataset root, CSV or image is missing or malformed."""


class ConfigError(UserError):
    """A preset or study file is invalid (unknown key, bad range, unknown name)."""


class DataWarning(UserWarning):
    """Input that was used but may not mean what the user thinks (rows skipped, a likely class-order
    mix-up); the CLI prints it as one ``warning:`` line on stderr."""
