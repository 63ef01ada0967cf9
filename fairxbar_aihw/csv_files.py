"""CSV files the tool writes (report tables, exports): text cells neutralised, written with ``write_atomic``.

Why: group values, labels and paths come from the user's files, and a report CSV is opened in a
spreadsheet (a cell ``=HYPERLINK(...)`` or ``@SUM(...)`` runs as a formula) or read by scripts.
Per the OWASP CSV-injection guidance, a text cell that starts with ``= + - @``, a tab or a carriage
return, or holds a control character, gets a leading ``'`` (shown as text by spreadsheets) and its
control characters replaced. A shell that sources the file (a leading ``'`` pairs with the next
row's, so quoting alone does not stop it) must find no command separator, substitution or
redirection, so in a cell holding one of ``; | & $ ` < >`` those characters, and ``%``, are
percent-encoded (``urllib.parse.unquote`` gives the value back). Numbers, and text that reads as
a number, are written as they are.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .safe_files import write_atomic

_LEADING = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHELL = re.compile(r"[;|&$`<>]")
_ENCODED = re.compile(r"[;|&$`<>%]")  # what a cell with a shell metacharacter has percent-encoded
_NUMBER = re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|inf|nan)")  # pandas writes ±inf, nan so
REPLACEMENT = "\ufffd"  # what a control character becomes


def neutral_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet or shell interprets: a risky text gets a leading ``'``
    and its control characters replaced; numbers and numeric text are returned unchanged."""
    if not isinstance(value, str) or _NUMBER.fullmatch(value):
        return value
    text = value
    if _SHELL.search(text):
        text = _ENCODED.sub(lambda m: f"%{ord(m.group()):02X}", text)
    if text.startswith(_LEADING) or _CONTROL.search(text):
        text = "'" + _CONTROL.sub(REPLACEMENT, text)
    return text


def neutralise(frame: pd.DataFrame, tool_text: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name neutralised (``neutral_cell``);
    columns in ``tool_text`` hold text the tool composed (never user input) and only lose control
    characters. Numeric columns are not touched."""
    keep = set(tool_text)
    out = frame.copy()
    for i, column in enumerate(out.columns):
        cells = out.iloc[:, i]
        if pd.api.types.is_object_dtype(cells) or pd.api.types.is_string_dtype(cells) or \
                isinstance(cells.dtype, pd.CategoricalDtype):
            out.isetitem(i, cells.astype(object).map(_tool_cell if column in keep else neutral_cell))
    out.columns = [neutral_cell(c) for c in out.columns]
    return out


def _tool_cell(value: Any) -> Any:
    return _CONTROL.sub(REPLACEMENT, value) if isinstance(value, str) else value


def write_csv(path: Path, frame: pd.DataFrame, tool_text: Iterable[str] = (), **to_csv: Any) -> Path:
    """``frame`` neutralised (``neutralise``) and written to ``path`` atomically, never through a
    link; ``to_csv`` are pandas' options (``index=False`` unless given)."""
    text = neutralise(frame, tool_text).to_csv(**{"index": False, **to_csv})
    return write_atomic(path, text.encode("utf-8"))
