"""Where the bundled files live and where runs and reports go; names that may become folders.

Why this module guards names: a study, preset or run name becomes a folder that ``--fresh``
may delete, so every name is checked against a safe pattern and every folder the tool writes
or deletes must resolve inside its runs or reports folder.
"""
from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from .errors import ConfigError, UserError

BUNDLED = Path(str(resources.files("fairxbar_aihw") / "bundled"))
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")


def check_name(name: str, what: str) -> str:
    """``name`` if it can safely become a file or folder name (letters, digits, ``_.+-``, no ``..``)."""
    if not isinstance(name, str) or not SAFE_NAME.match(name) or ".." in name:
        raise ConfigError(f"{what} name {name!r} is not allowed: use letters, digits, '_', '-', '.' and '+', "
                          "starting with a letter or digit, without '..'")
    return name


def _env_folder(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else default


def _existing_folder(var: str, default: Path, what: str) -> Path:
    folder = _env_folder(var, default)
    if not folder.is_dir():
        raise UserError(f"{what} folder {folder} does not exist (set by {var}); create it or unset {var}")
    return folder


def presets_dir() -> Path:
    """Folder of device preset YAML files: the bundled ones, or FAIRXBAR_PRESETS."""
    return _existing_folder("FAIRXBAR_PRESETS", BUNDLED / "presets", "presets")


def studies_dir() -> Path:
    """Folder of study YAML files: the bundled ones, or FAIRXBAR_STUDIES."""
    return _existing_folder("FAIRXBAR_STUDIES", BUNDLED / "studies", "studies")


def runs_dir() -> Path:
    """Checkpoints, caches and results databases: ``./runs`` in the current folder, or FAIRXBAR_RUNS."""
    return _env_folder("FAIRXBAR_RUNS", Path.cwd() / "runs")


def reports_dir() -> Path:
    """Markdown reports: ``./reports`` in the current folder, or FAIRXBAR_REPORTS."""
    return _env_folder("FAIRXBAR_REPORTS", Path.cwd() / "reports")


def cache_dir() -> Path:
    """Decoded-image cache for real datasets (override with FAIRXBAR_CACHE)."""
    return _env_folder("FAIRXBAR_CACHE", Path.home() / ".cache" / "fairxbar_aihw")


def inside(base: Path, name: str, what: str) -> Path:
    """``base/name`` for a checked name, proven to resolve inside ``base`` (symlinks included)."""
    check_name(name, what)
    path = base / name
    root = base.resolve()
    resolved = path.resolve()
    if resolved == root or root not in resolved.parents:
        raise UserError(f"{what} folder {path} resolves to {resolved}, outside {root}; refusing to use it")
    return path
