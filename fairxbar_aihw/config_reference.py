"""``docs/config-reference.md``, generated from the typed study and preset models.

Why generated: the models hold every key's default, range and doc; a page written by hand
would drift from them. ``python -m fairxbar_aihw.config_reference > docs/config-reference.md``
rewrites it, and a test fails when the committed page differs.
"""
from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .hardware.presets import COMMON_KEYS, FORWARD, MODEL_KEYS, SCHEMA
from .study.schema import Section, StudyConfig


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value: Any = field.default_factory()
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [v.model_dump() for v in value]
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _range(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "items ≥"),
                          ("max_length", "items ≤")):
            if getattr(meta, attr, None) is not None:
                parts.append(f"{sign} {getattr(meta, attr)}")
    return ", ".join(parts)


def _type(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    text = re.sub(r"Annotated\[str, AfterValidator\(func=<function _method at 0x[0-9a-f]+>\)\]", "method", text)
    text = re.sub(r"Annotated\[int, FieldInfo\(.*?Ge\(ge=(\d+)\)(, Le\(le=(\d+)\))?\]\)\]",
                  lambda m: f"int ≥ {m[1]}" + (f", ≤ {m[3]}" if m[3] else ""), text)
    return text.replace("fairxbar_aihw.study.schema.", "").replace(" | ", " or ")


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        if not prefix and name in ("name", "quick_mode"):  # set by the loader
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            rows += _rows(annotation, f"{prefix}{name}.")
            continue
        rows.append(f"| `{prefix}{name}` | {_type(field)} | {_default(field)} | {_range(field)} | "
                    f"{field.description or ''} |")
    return rows


def render() -> str:
    """The whole reference page as markdown."""
    from .study.schema import HardwareEntry

    lines = ["# Configuration reference", "",
             "Generated from the typed models (`fairxbar_aihw/study/schema.py`, `fairxbar_aihw/hardware/presets.py`) "
             "by `python -m fairxbar_aihw.config_reference`; do not edit by hand.", "",
             "## Study files", "",
             "Unknown keys are errors; every value is checked against its type and range, and an error names "
             "the dotted key.", "",
             "| key | type | default | range | meaning |", "|---|---|---|---|---|"]
    lines += _rows(StudyConfig, "")
    lines += ["", "Each `sweep.hardware` entry:", "", "| key | type | default | range | meaning |",
              "|---|---|---|---|---|"]
    lines += _rows(HardwareEntry, "sweep.hardware[].")
    lines += ["", "## Device presets", "",
              "Every preset takes the common keys; each technology (`noise_model`) takes only its own keys "
              "besides (another technology's key is an error).", "",
              "| key | default | meaning |", "|---|---|---|"]
    for key in sorted(COMMON_KEYS):
        _, _, default, doc = SCHEMA[key]
        lines.append(f"| `{key}` | `{json.dumps(default)}` | {doc} |")
    lines += ["", "| noise_model | its keys (default) |", "|---|---|"]
    for model, keys in MODEL_KEYS.items():
        own = ", ".join(f"`{k}` ({SCHEMA[k][2]})" for k in sorted(keys)) or "—"
        lines.append(f"| `{model}` | {own} |")
    lines += ["", "Units: conductances in µS (aihwkit's), rates are probabilities per bit or per device, scales are "
              "dimensionless factors on aihwkit's fits to measured devices, drift times (`drift.times`) are seconds "
              "after programming.", "", "| technology key | unit, meaning and range |", "|---|---|"]
    lines += [f"| `{k}` | {SCHEMA[k][3]} |" for k in sorted(set().union(*MODEL_KEYS.values()))]
    lines += ["", "`forward` keys (aihwkit `IOParameters`):", "",
              "| forward key | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {FORWARD[k][2]} |" for k in sorted(FORWARD)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
