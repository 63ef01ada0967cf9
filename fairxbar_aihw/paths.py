"""Where the bundled presets and studies live and where runs and reports go; names that may become folders.

The bundled files have one source, the checkout's top-level ``device_presets/`` and ``studies/``;
a wheel carries them as ``fairxbar_aihw/bundled/presets`` and ``.../studies`` (pyproject.toml maps
them there), so the package looks inside itself first and then beside itself in the checkout
(an editable install or ``PYTHONPATH`` runs from the source tree).

Why this module guards names: a study, preset or run name becomes a folder that ``--fresh``
may delete, so every name is checked against a safe pattern and every folder the tool writes
or deletes must resolve inside its runs or reports folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ConfigError, UserError, quote_value

PACKAGE = Path(__file__).parent


def _bundled(shipped_as: str, source: str) -> Path:
    """A bundled folder: the wheel's copy inside the package if it holds YAML files, else the
    checkout's top-level source folder."""
    shipped = PACKAGE / "bundled" / shipped_as
    return shipped if any(shipped.glob("*.yaml")) else PACKAGE.parent / source


BUNDLED_PRESETS = _bundled("presets", "device_presets")
BUNDLED_STUDIES = _bundled("studies", "studies")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")  # fullmatch only: "$" lets a final newline pass


def check_name(name: str, what: str) -> str:
    """``name`` if it can safely become a file or folder name (letters, digits, ``_.+-``, no ``..``)."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ConfigError(f"{what} name '{quote_value(name, 120)}' is not allowed: use letters, digits, '_', '-', "
                          "'.' and '+', starting with a letter or digit, without '..'")
    return name


def _env_folder(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else default


def _existing_folder(var: str, default: Path, what: str) -> Path:
    folder = _env_folder(var, default)
    if not folder.is_dir():
        if os.environ.get(var):
            raise UserError(f"{what} folder {folder} does not exist (set by {var}); create it or unset {var}")
        raise UserError(f"bundled {what} folder {folder} is missing: reinstall fairxbar-aihw, or set {var}")
    return folder


def presets_dir() -> Path:
    """Folder of device preset YAML files: the bundled ones (``device_presets/``), or FAIRXBAR_PRESETS."""
    return _existing_folder("FAIRXBAR_PRESETS", BUNDLED_PRESETS, "presets")


def studies_dir() -> Path:
    """Folder of study YAML files: the bundled ones (``studies/``), or FAIRXBAR_STUDIES."""
    return _existing_folder("FAIRXBAR_STUDIES", BUNDLED_STUDIES, "studies")


def runs_dir() -> Path:
    """Checkpoints, caches and results databases: ``./runs`` in the current folder, or FAIRXBAR_RUNS."""
    return _env_folder("FAIRXBAR_RUNS", Path.cwd() / "runs")


def reports_dir() -> Path:
    """Markdown reports: ``docs/reports`` under the current folder (so a run from the checkout's
    root regenerates the committed reports), or FAIRXBAR_REPORTS."""
    return _env_folder("FAIRXBAR_REPORTS", Path.cwd() / "docs" / "reports")


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
