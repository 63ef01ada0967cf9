"""Load a compiled torch model file, a torch.export program (.pt2) or TorchScript: code, run as given.

Why only when trusted: ``torch.jit.load`` and ``torch.export.load`` are code loaders (a scripted
``__setstate__`` runs while loading, an exported program's pickles and shape expressions are
evaluated), and no check beside them can make that safe: an allow-list was stepped around (a
flatbuffer file torch.jit.load reads instead of the zip that was checked; ops that address
memory without bounds). So these files load only with ``--trust-code`` (``model.trust_code``),
documented like ``--entry`` as running the file's code; an untrusted model arrives as ONNX
(``onnx_graph``).

An exported program's layers are plain modules holding weights; ``name_layers`` gives those
the class names TorchScript keeps (``original_name``), read from the ops that use the weights,
so crossbar placement, the proxy and the reports treat both kinds alike.
"""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
import torch.fx
import torch.nn as nn

from ..errors import UserError

TRUST_HINT = ("export ONNX instead (torch.onnx.export(model.eval(), (x,), 'model.onnx', dynamo=True, "
              "dynamic_shapes=({0: torch.export.Dim('batch')},))), or pass --trust-code (model.trust_code: true) "
              "if you trust whoever made the file: loading it runs its code")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]


def compiled_kind(head: bytes, path: Path) -> str | None:
    """"pt2", "torchscript", or None when ``path`` (whose first bytes are ``head``) is neither: a
    zip holding an exported program's ``archive_format`` record is .pt2, any other zip or a
    flatbuffer ("PTMF" at byte 4, which torch.jit.load also reads) is TorchScript."""
    if head[4:8] == b"PTMF":
        return "torchscript"
    if not head.startswith(b"PK"):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "torchscript"  # torch's reader decides; it fails with its own message
    return "pt2" if any(n.endswith("archive_format") for n in names) else "torchscript"


def op_name(target: Any) -> str:
    """``aten::conv2d`` for an ATen overload, ``_operator.mul`` for a Python function."""
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return str(schema.name)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__name__', repr(target))}"


# ops whose training flag an exported graph fixes: (argument index)
TRAINING_FLAGS = {"aten::batch_norm": 5, "aten::native_batch_norm": 5, "aten::dropout": 2,
                  "aten::feature_dropout": 2, "aten::alpha_dropout": 2, "aten::feature_alpha_dropout": 2}


def check_eval_mode(module: torch.fx.GraphModule, source: str) -> None:
    """An exported graph keeps the mode it was exported in: batch statistics and dropout in
    training mode would make every chip's result depend on the batch."""
    for node in module.graph.nodes:
        index = TRAINING_FLAGS.get(op_name(node.target)) if node.op == "call_function" else None
        if index is not None and len(node.args) > index and node.args[index] is True:
            raise UserError(f"{source} was exported in training mode ({op_name(node.target)} with training=True); "
                            "call model.eval() before exporting")


def _load_scripted(path: Path) -> nn.Module:
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # a broken or foreign archive
        raise UserError(f"{path} is not a TorchScript model ({_first_line(exc)})") from None


# op → (layer name, index of its weight argument)
LAYER_OPS = {"aten::conv2d": ("Conv2d", 1), "aten::convolution": ("Conv2d", 1), "aten::linear": ("Linear", 1),
             "aten::batch_norm": ("BatchNorm", 1), "aten::_native_batch_norm_legit_no_training": ("BatchNorm", 1),
             "aten::layer_norm": ("LayerNorm", 2), "aten::group_norm": ("GroupNorm", 2)}
GROUPS_ARG = {"aten::conv2d": 6, "aten::convolution": 8}


def name_layers(module: torch.fx.GraphModule) -> None:
    """Set ``original_name`` (and a convolution's ``groups``) on each module whose ``weight`` a
    conv, linear or normalisation op of the graph uses."""
    modules = dict(module.named_modules())
    for node in module.graph.nodes:
        op = op_name(node.target) if node.op == "call_function" else ""
        if op not in LAYER_OPS or len(node.args) <= LAYER_OPS[op][1]:
            continue
        kind, index = LAYER_OPS[op]
        weight = node.args[index]
        target = str(weight.target) if isinstance(weight, torch.fx.Node) and weight.op == "get_attr" else ""
        if not target.endswith(".weight"):
            continue
        layer = modules.get(target[: -len(".weight")])
        if layer is None:
            continue
        if op in GROUPS_ARG:
            transposed = op == "aten::convolution" and bool(node.args[6])
            if layer.weight.dim() != 4 or transposed:
                kind = "ConvTranspose" if transposed else f"Conv{layer.weight.dim() - 2}d"
            layer.groups = int(node.args[GROUPS_ARG[op]]) if len(node.args) > GROUPS_ARG[op] else 1
        layer.original_name = kind


def _check_free_batch(program: torch.export.ExportedProgram, path: Path) -> None:
    """The test set is read in batches of any size, the last one smaller."""
    user_input = program.graph_signature.user_inputs[0]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_input)
    shape = getattr(node.meta.get("val"), "shape", ())
    if not shape or not isinstance(shape[0], torch.SymInt):
        raise UserError(f"{path} was exported for batches of exactly {shape[0] if shape else '?'} images; export "
                        'with a free batch size: dynamic_shapes=({0: torch.export.Dim("batch")},)')


def _load_exported(path: Path) -> nn.Module:
    log = logging.getLogger("torch.export")
    level = log.level
    log.setLevel(logging.CRITICAL)  # torch logs a traceback before re-raising; the error below says it
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise UserError(f"{path} is not a loadable torch.export program ({_first_line(exc)})") from None
    finally:
        log.setLevel(level)
    _check_free_batch(program, path)
    module = program.module(check_guards=False)
    check_eval_mode(module, str(path))
    for name in ("train", "eval"):  # torch forbids them; the graph is fixed, so they only set flags
        vars(module).pop(name, None)
    name_layers(module)
    return module


LOADERS: dict[str, Callable[[Path], nn.Module]] = {"pt2": _load_exported, "torchscript": _load_scripted}
LABELS = {"pt2": "torch.export program", "torchscript": "TorchScript", None: "ONNX model"}


def load_trusted_program(path: Path, kind: str) -> nn.Module:
    """The compiled model in ``path`` on the CPU; the caller has the user's word that its code may run."""
    return LOADERS[kind](path)


def program_label(path: str) -> str:
    """How reports name a model file's kind, read from its first bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        head = b""
    return LABELS[compiled_kind(head, Path(path))] if head else "model file"
