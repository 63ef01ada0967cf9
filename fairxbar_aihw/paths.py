"""Where the project's bundled files and run artefacts live."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def presets_dir() -> Path:
    """Folder of device preset YAML files (override with FAIRXBAR_PRESETS)."""
    return Path(os.environ.get("FAIRXBAR_PRESETS", REPO_ROOT / "device_presets"))


def studies_dir() -> Path:
    """Folder of study YAML files (override with FAIRXBAR_STUDIES)."""
    return Path(os.environ.get("FAIRXBAR_STUDIES", REPO_ROOT / "studies"))


def runs_dir() -> Path:
    """Folder for checkpoints, caches and results databases (override with FAIRXBAR_RUNS)."""
    return Path(os.environ.get("FAIRXBAR_RUNS", REPO_ROOT / "runs"))


def reports_dir() -> Path:
    """Folder the markdown reports are written to (override with FAIRXBAR_REPORTS)."""
    return Path(os.environ.get("FAIRXBAR_REPORTS", REPO_ROOT / "docs" / "reports"))


def cache_dir() -> Path:
    """Decoded-image cache for real datasets (override with FAIRXBAR_CACHE)."""
    return Path(os.environ.get("FAIRXBAR_CACHE", Path.home() / ".cache" / "fairxbar_aihw"))
