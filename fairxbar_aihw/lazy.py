"""Lazy package exports: heavy libraries (torch, aihwkit, BackPACK) load on first use.

Why: ``fairxbar-aihw --help``, ``studies``, ``presets`` and ``metrics`` need none of them, and
importing torch and aihwkit costs seconds; a package's public names stay the same.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a public name to the
    submodule (relative, e.g. ``.analog``) that defines it, or to itself for a submodule."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], package)
        return module if exports[name] == f".{name}" else getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
