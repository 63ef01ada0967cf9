"""The base of every typed configuration section, kept on the lowest floor so each stage defines
its own section (``training/config.py``, ``retrain/config.py``, ...) and the study composes them.

Why pydantic: it checks every type and range, rejects unknown keys, reads numbers YAML leaves as
text (``1e-3``), and its field docs generate ``docs/config-reference.md``. A section built directly
in Python (``TrainConfig(epochs=0)``) fails with a one-line ``UserError``; inside a study file the
loader names the dotted key instead.
"""
from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .errors import UserError, clipped


def _number_kind(annotation: Any) -> str | None:
    """The number type ("int" or "float") a field holds, optionally or as a Literal of ints; else None."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _number_kind(args[0])
    if origin in (Union, types.UnionType):
        kinds = {_number_kind(a) for a in args if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if origin is Literal:
        return "int" if any(isinstance(a, int) and not isinstance(a, bool) for a in args) else None
    return {int: "int", float: "float"}.get(annotation)


def _bool_for_number(value: Any, annotation: Any) -> str | None:
    """The number kind a YAML true/false in ``value`` stands in for (pydantic would read it as 1 or 0)."""
    if isinstance(value, bool):
        return _number_kind(annotation)
    for option in get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,):
        if isinstance(value, list) and get_origin(option) is list:
            return next((k for k in (_bool_for_number(v, get_args(option)[0]) for v in value) if k), None)
    return None


class Section(BaseModel):
    """A config section: unknown keys are errors; values are checked when set, too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:  # built in Python: one line naming the field, not pydantic's report
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            given = f"={clipped(repr(err['input']))}" if "input" in err and not isinstance(err["input"], dict) else ""
            raise UserError(f"{type(self).__name__}: {loc}{given}: {err['msg']}") from None

    # Marked as pydantic's own __init__, so validating a study file never calls it: there the loader
    # names the dotted key (study/config.py), and nested sections keep pydantic's error locations.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``epochs: true`` is a mistake, not 1: numbers refuse true/false (lists of numbers too)."""
        kind = _bool_for_number(value, cls.model_fields[info.field_name].annotation) if info.field_name else None
        if kind and isinstance(value, bool):
            raise PydanticCustomError(f"{kind}_type", "a number, not true/false")
        if kind:
            raise PydanticCustomError("bool_item", "true/false is not a number; give numbers only")
        return value
