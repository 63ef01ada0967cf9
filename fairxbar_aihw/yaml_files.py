"""Reading the project's YAML files (presets, studies) with one-line errors.

Why a loader of its own: YAML aliases let a few hundred bytes expand to gigabytes (an "alias
bomb"), and study files come from users; these files never need aliases, so they are refused,
and so is any file over ``MAX_BYTES``. A key given twice is refused too (plain YAML keeps the
last one silently, so a typo'd edit would be ignored), and so is nesting deeper than
``MAX_DEPTH`` (Python's recursion limit would otherwise end the program).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, listing
from .paths import check_name

MAX_BYTES = 1_000_000
MAX_DEPTH = 50  # the project's files nest 4 levels; a deeper file is a mistake or an attack


class _NoAliasLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses aliases (``*name``), so a file cannot expand beyond its size,
    keys given twice in one mapping, and nesting deeper than ``MAX_DEPTH``."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"aliases (*name) are not allowed (line {mark.line + 1}); write the values out")
        if self.depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"values nest deeper than {MAX_DEPTH} levels (line {mark.line + 1})")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)):  # other keys: the base loader's own errors
                if key in seen:
                    raise yaml.YAMLError(f"key '{key}' is given twice (lines {seen[key]} and {line}); keep one")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; errors name the file and the first parser complaint."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{what} file {path} is {size} bytes; the limit is {MAX_BYTES}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc}") from exc
    try:
        raw = yaml.load(text, Loader=_NoAliasLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    except RecursionError:  # a safety net: MAX_DEPTH stops the composer long before this
        raise ConfigError(f"{what} file {path} nests its values too deeply; flatten it") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} file {path} must be a mapping of keys to values")
    return raw


def named_yaml_files(folder: Path) -> list[str]:
    """The names of ``folder/*.yaml`` that are safe names (others cannot be loaded by name)."""
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file() and _safe(p.stem))


def _safe(name: str) -> bool:
    try:
        check_name(name, "file")
    except ConfigError:
        return False
    return True


def load_named(name: str | Path, folder: Path, what: str) -> tuple[Path, dict[str, Any]]:
    """``folder/NAME.yaml`` (or a path to a .yaml) and its mapping; an unknown name lists the known ones.

    The file's stem becomes the study's or preset's name (and a run folder): it must be a safe name.
    """
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        check_name(str(name), what)
        path = folder / f"{name}.yaml"
    check_name(path.stem, what)
    if not path.is_file():
        raise ConfigError(f"unknown {what} '{name}'; available: {listing(named_yaml_files(folder), 20)} "
                          f"(or give a path to a {what} .yaml)")
    return path, read_mapping(path, what)
