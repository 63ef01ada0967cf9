"""Reading the project's YAML files (presets, studies) with one-line errors."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; errors name the file and the first parser complaint."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} file {path} must be a mapping of keys to values")
    return raw


def named_yaml_files(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_named(name: str | Path, folder: Path, what: str) -> tuple[Path, dict[str, Any]]:
    """``folder/NAME.yaml`` (or a path to a .yaml) and its mapping; an unknown name lists the known ones."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = folder / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown {what} '{name}'; available: {', '.join(named_yaml_files(folder))} "
                          f"(or give a path to a {what} .yaml)")
    return path, read_mapping(path, what)
