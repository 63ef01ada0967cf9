"""Load a compiled model file, a torch.export program (.pt2) or TorchScript, without running its code.

Why this order: the archive is checked before torch reads it (``archives``: loading itself can run
code), the loaded graph against the op allow-list before the first call (``graphcheck``: a
compiled model is code). The kind is read from the archive, not the file name.

An exported program's layers are plain modules holding weights; ``name_layers`` gives those
the class names TorchScript keeps (``original_name``), read from the ops that use the weights,
so crossbar placement, the proxy and the reports treat both kinds alike.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Callable

import torch
import torch.fx
import torch.nn as nn

from ..errors import UserError
from .archives import ARCHIVE_CHECKS, EXPORT_HINT, open_archive
from .graphcheck import check_eval_mode, check_ops, exported_ops, op_name, scripted_ops


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]


def _load_scripted(data: bytes, path: Path) -> nn.Module:
    try:
        model = torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as exc:  # a broken or foreign archive
        raise UserError(f"{path} is not a TorchScript model ({_first_line(exc)}); {EXPORT_HINT}") from None
    check_ops(scripted_ops(model), str(path))
    return model


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


def _load_exported(data: bytes, path: Path) -> nn.Module:
    log = logging.getLogger("torch.export")
    level = log.level
    log.setLevel(logging.CRITICAL)  # torch logs a traceback before re-raising; the error below says it
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as exc:
        raise UserError(f"{path} is not a loadable torch.export program ({_first_line(exc)}); {EXPORT_HINT}") from None
    finally:
        log.setLevel(level)
    check_ops(exported_ops(program.graph_module), str(path))
    _check_free_batch(program, path)
    module = program.module(check_guards=False)
    check_ops(exported_ops(module), str(path))
    check_eval_mode(module, str(path))
    for name in ("train", "eval"):  # torch forbids them; the graph is fixed, so they only set flags
        vars(module).pop(name, None)
    name_layers(module)
    return module


LOADERS: dict[str, Callable[[bytes, Path], nn.Module]] = {"pt2": _load_exported, "torchscript": _load_scripted}


def load_program(path: Path) -> nn.Module:
    """The model in ``path`` on the CPU, refused with a one-line UserError if loading or calling it
    could do anything but tensor maths."""
    try:
        data = path.read_bytes()  # checked and loaded from the same bytes
    except OSError as exc:
        raise UserError(f"cannot read model file {path} ({exc.strerror or type(exc).__name__})") from None
    kind, reader = open_archive(data, path)
    ARCHIVE_CHECKS[kind](reader, data, path)
    return LOADERS[kind](data, path)


def program_label(path: str) -> str:
    """How reports name a model file's kind."""
    return "torch.export program" if str(path).endswith(".pt2") else "TorchScript"
