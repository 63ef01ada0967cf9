"""Refuse a model file whose loading alone could run code, before torch loads it.

Why: loading a compiled model is not inert (read in torch 2.14's source and tried):
- ``torch.jit.load`` runs a scripted class's ``__setstate__`` (TorchScript code, so
  ``torch.from_file(…).fill_(…)`` too) while it unpickles the module;
- ``torch.export.load`` unpickles without the weights-only restriction every payload its config marks as
  pickled, falls back to full unpickling when its sample inputs fail the safe loader, ``pickle``s
  opaque constants, ``sympify``s (evals) shape expressions, pastes input names into the Python it
  generates and execs (a crafted name ran a shell command in a test), execs guard code in
  ``module()``, loads AOTInductor shared libraries, and reads a legacy layout with full unpickling.
So the archive is read here first, with torch's own zip reader, and only the plain layout that
``torch.export.save`` / ``torch.jit.save`` write for one tensor in, one tensor out passes. The
checks and torch read the same bytes, held in memory, so the file cannot change in between.
"""
from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import torch

from ..errors import UserError
from .allowed_ops import is_allowed

REFUSED = "refused unread"
EXPORT_HINT = "export one with torch.export.save(torch.export.export(model.eval(), (x,)), PATH.pt2)"
FIX = ("export it with torch.export (a .pt2 file) using tensor operations only, or load code you trust "
       "with --entry (model.entry)")


@lru_cache(maxsize=1)
def _pt2() -> ModuleType:
    """torch's .pt2 layout constants (imported on first use: the module costs seconds to import)."""
    from torch.export.pt2_archive import constants

    return constants


def open_archive(data: bytes, path: Path) -> tuple[str, Any]:
    """(kind, torch's reader) of a .pt2 or TorchScript archive (``data``, read from ``path``);
    anything else is a UserError."""
    try:
        reader: Any = torch._C.PyTorchFileReader(io.BytesIO(data))
    except Exception:
        raise UserError(f"{path} is not a model archive (neither a torch.export .pt2 nor a TorchScript file); "
                        f"{EXPORT_HINT}") from None
    kind = "pt2" if reader.has_record(_pt2().ARCHIVE_FORMAT_PATH) else ""
    kind = kind or ("torchscript" if reader.has_record("data.pkl") else "")
    if not kind:
        raise UserError(f"{path} is a torch archive but not a model (no exported program, no TorchScript module); "
                        f"{EXPORT_HINT}")
    return kind, reader


# ---- TorchScript ----------------------------------------------------------------------------
# what torch.jit.save pickles: the model's own TorchScript classes and tensor storages; not
# torch.classes objects, whose C++ __setstate__ parses the file's bytes
_TS_GLOBAL = re.compile(r"__torch__(\.\w+)* \w+|torch\._utils _rebuild_tensor_v2|torch \w+Storage"
                        r"|collections OrderedDict|torch\.jit\._pickle \w+")


def _pickle_globals(data: bytes) -> Iterator[str]:
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("GLOBAL", "INST"):
                yield str(arg)
            elif op.name == "STACK_GLOBAL":
                yield "a computed global"
    except Exception:
        yield "an unreadable pickle"


def check_scripted_archive(reader: Any, data: bytes, path: Path) -> None:
    """No ``__setstate__`` in the archive's code (torch.jit.load would run it), plain pickles only."""
    for name in reader.get_all_records():
        if name.endswith(".py") and b"__setstate__" in reader.get_record(name):
            raise UserError(f"{path} defines __setstate__, TorchScript code torch.jit.load runs while loading, so "
                            f"it was {REFUSED}; {FIX}")
    for name in ("data.pkl", "constants.pkl"):
        for glob in _pickle_globals(reader.get_record(name)) if reader.has_record(name) else ():
            if not _TS_GLOBAL.fullmatch(glob) or glob.startswith("__torch__.torch.classes"):
                raise UserError(f"{path} pickles {glob}, which is not a TorchScript module or tensor, so it was "
                                f"{REFUSED}; {FIX}")


# ---- torch.export (.pt2) --------------------------------------------------------------------
_MODEL = "model"


@lru_cache(maxsize=1)
def _pt2_records() -> re.Pattern[str]:
    """The record names torch.export.save writes for one program of tensors."""
    pt2 = _pt2()
    return re.compile("|".join([re.escape(name) for name in (
        pt2.ARCHIVE_FORMAT_PATH, pt2.ARCHIVE_VERSION_PATH, "byteorder", ".data/version", ".data/serialization_id",
        pt2.MODELS_FILENAME_FORMAT.format(_MODEL), pt2.WEIGHTS_CONFIG_FILENAME_FORMAT.format(_MODEL),
        pt2.CONSTANTS_CONFIG_FILENAME_FORMAT.format(_MODEL), pt2.SAMPLE_INPUTS_FILENAME_FORMAT.format(_MODEL))]
        + [re.escape(pt2.WEIGHTS_DIR + pt2.WEIGHT_FILENAME_PREFIX) + r"\d+",
           re.escape(pt2.CONSTANTS_DIR + pt2.TENSOR_CONSTANT_FILENAME_PREFIX) + r"\d+"]))
# strings torch.export keeps as text (never pasted into code): metadata, constant string arguments,
# pytree specs (JSON), the torch version
_FREE_TEXT = {"stack_trace", "nn_module_stack", "source_fn_stack", "torch_fn", "custom", "from_node",
              "as_string", "as_strings", "in_spec", "out_spec", "torch_version"}
_NAME = re.compile(r"[A-Za-z0-9_.]*")  # every other string: names, FQNs, op targets, enum values
# shape expressions are sympy.srepr text that torch.export.load evals: calls of these names on
# integers, plain strings and keyword flags only
_SYMPY_NAMES = frozenset("""
Symbol Integer Rational Float Add Mul Pow Mod Max Min Abs floor ceiling Equality Unequality StrictLessThan
LessThan StrictGreaterThan GreaterThan And Or Not true false True False oo zoo nan Infinity NegativeInfinity
Half One Zero NegativeOne BooleanTrue BooleanFalse Piecewise ExprCondPair FloorDiv ModularIndexing Where
PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift PowByNatural FloatPow FloatTrueDiv IntTrueDiv
IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt RoundToInt RoundDecimal ToFloat Identity
positive negative nonnegative nonpositive integer real finite infinite commutative precision zero nonzero
extended_real rational even odd
""".split())
_EXPR_TOKEN = re.compile(r"\s*(?:([A-Za-z_]\w*)|'[\w.+\-]*'|\d+|[(),=\-])", re.ASCII)
_USER_KINDS = {"parameter", "buffer", "tensor_constant", "user_input"}


def _expression_ok(text: str) -> bool:
    pos = 0
    while pos < len(text.rstrip()):
        m = _EXPR_TOKEN.match(text, pos)
        if not m or (m.group(1) and m.group(1) not in _SYMPY_NAMES):
            return False
        pos = m.end()
    return True


def _strings(obj: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, text) of every string and dict key in a JSON document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield "", k
            yield from _strings(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v, key)
    elif isinstance(obj, str):
        yield key, obj


def _string_ok(key: str, text: str) -> bool:
    if key == "expr_str":
        return _expression_ok(text)
    if key in _FREE_TEXT:
        return all(c.isprintable() or c in "\n\t" for c in text)
    return bool(_NAME.fullmatch(text))


def _nodes(obj: Any) -> Iterator[dict[str, Any]]:
    """Every serialized graph node (nested graphs included)."""
    if isinstance(obj, dict):
        if isinstance(obj.get("target"), str) and "inputs" in obj:
            yield obj
        for v in obj.values():
            yield from _nodes(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _nodes(v)


def serialized_op(target: str) -> str:
    """``torch.ops.aten.conv2d.default`` → ``aten::conv2d``; Python targets stay as written."""
    parts = target.split(".")
    return f"{parts[2]}::{parts[3]}" if len(parts) == 5 and parts[:2] == ["torch", "ops"] else target


def _check_program_json(doc: dict[str, Any], path: Path) -> None:
    def refuse(what: str) -> UserError:
        return UserError(f"{path} {what}, so it was {REFUSED}; {FIX}")

    if doc.get("guards_code"):
        raise refuse("carries guard code, which torch.export runs as Python")
    for key, text in _strings(doc):
        if not _string_ok(key, text):
            raise refuse(f"holds {key or 'a key'} {text[:60]!r}, which is neither a name nor a shape expression")
    module = doc.get("graph_module", {})
    if module.get("graph", {}).get("custom_obj_values") or module.get("treespec_namedtuple_fields"):
        raise refuse("holds custom objects")
    signature = module.get("signature", {})
    inputs = [next(iter(spec), "") for spec in signature.get("input_specs", [])]
    outputs = [next(iter(spec), "") for spec in signature.get("output_specs", [])]
    if set(inputs) - _USER_KINDS or inputs.count("user_input") != 1 or outputs != ["user_output"]:
        raise refuse(f"is not one image batch in, one logits tensor out (inputs {inputs}, outputs {outputs}; "
                     "export in eval mode, model.eval(), so nothing is updated)")
    for node in _nodes(module):
        op = serialized_op(node["target"])
        if not is_allowed(op):
            raise refuse(f"calls {op}, which is not a side-effect-free tensor operation")


def check_exported_archive(reader: Any, data: bytes, path: Path) -> None:
    """Only the records torch.export.save writes for one program, no pickles, a program that
    names nothing but allowed ops, plain names and shape expressions."""
    def refuse(what: str) -> UserError:
        return UserError(f"{path} {what}, so it was {REFUSED}; {FIX}")

    pt2 = _pt2()
    extra = sorted(name for name in reader.get_all_records() if not _pt2_records().fullmatch(name))
    if extra:
        raise refuse(f"holds {extra[0]}, which is not part of a plain exported program (compiled code, pickles, "
                     "more than one program)")
    try:  # torch.export.load falls back to a legacy layout, read with Python's zip reader, on errors
        legacy = "version" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        legacy = False
    if legacy:
        raise refuse("has the legacy layout that torch.export.load unpickles")
    for config_name, prefix in ((pt2.WEIGHTS_CONFIG_FILENAME_FORMAT, pt2.WEIGHT_FILENAME_PREFIX),
                                (pt2.CONSTANTS_CONFIG_FILENAME_FORMAT, pt2.TENSOR_CONSTANT_FILENAME_PREFIX)):
        name = config_name.format(_MODEL)
        config = json.loads(reader.get_record(name)).get("config", {}) if reader.has_record(name) else {}
        for fqn, payload in config.items():
            if payload.get("use_pickle") or not re.fullmatch(re.escape(prefix) + r"\d+", payload.get("path_name", "")):
                raise refuse(f"stores {fqn} as a pickle, which torch.export.load unpickles unchecked")
    sample = pt2.SAMPLE_INPUTS_FILENAME_FORMAT.format(_MODEL)
    if reader.has_record(sample) and reader.get_record(sample):
        try:  # torch tries this safe load first and unpickles fully if it fails
            torch.load(io.BytesIO(reader.get_record(sample)), weights_only=True)
        except Exception:
            raise refuse("has sample inputs that are not plain tensors") from None
    model = pt2.MODELS_FILENAME_FORMAT.format(_MODEL)
    if not reader.has_record(model):
        raise UserError(f"{path} holds no exported program named '{_MODEL}'; save one with torch.export.save(ep, PATH)")
    try:
        doc = json.loads(reader.get_record(model))
    except ValueError:
        raise refuse("holds an unreadable program") from None
    _check_program_json(doc, path)


ARCHIVE_CHECKS: dict[str, Callable[[Any, bytes, Path], None]] = {
    "pt2": check_exported_archive,
    "torchscript": check_scripted_archive,
}
