"""Check a loaded compiled model's graph against the op allow-list before its first call.

Why every method and hook, inlined: ``forward`` may reach code through submodule methods, helper
methods and hooks; inlining resolves those calls, so what is left is every op the model can run
(a call that cannot be resolved stays ``prim::CallMethod``/``CallFunction`` and is refused).
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import torch
import torch.fx

from ..errors import UserError
from .allowed_ops import is_allowed
from .archives import FIX


def _kinds(block: Any) -> Iterator[str]:
    for node in block.nodes():
        yield node.kind()
        for sub in node.blocks():
            yield from _kinds(sub)


def scripted_ops(module: torch.jit.ScriptModule) -> Iterator[str]:
    """Every op kind any method or hook of ``module`` or its submodules runs, calls inlined."""
    for sub in module.modules():
        c: Any = sub._c
        functions = [c._get_method(name) for name in c._method_names()]
        functions += [*c._get_forward_pre_hooks(), *c._get_forward_hooks()]
        for fn in functions:
            graph = fn.graph.copy()
            torch._C._jit_pass_inline(graph)
            yield from _kinds(graph)


def op_name(target: Any) -> str:
    """``aten::conv2d`` for an ATen overload, ``_operator.mul`` for a Python function."""
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return str(schema.name)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__name__', repr(target))}"


def exported_ops(module: torch.nn.Module) -> Iterator[str]:
    """Every call in every FX graph of ``module``; calls of modules or methods come out as refused names."""
    for sub in module.modules():
        if isinstance(sub, torch.fx.GraphModule):
            for node in sub.graph.nodes:
                if node.op == "call_function":
                    yield op_name(node.target)
                elif node.op not in ("placeholder", "get_attr", "output"):
                    yield f"{node.op} {node.target}"


def check_ops(ops: Iterable[str], source: str) -> None:
    """The first op not on the allow-list, as a one-line UserError."""
    for op in ops:
        if not is_allowed(op):
            raise UserError(f"{source} calls {op}, which is not a side-effect-free tensor operation, so the model "
                            f"was refused before running; {FIX}")


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
                            "call model.eval() before torch.export.export")
