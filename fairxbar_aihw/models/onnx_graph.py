"""A model given as ONNX, rebuilt as ordinary torch modules: a model file is data, never code.

Why ONNX: it is the field's interchange format, and its file is a protobuf that the ``onnx``
package parses without running anything. The graph is rebuilt here from a vetted set of
operators (convolution, Gemm/MatMul, batch norm, the common activations, pooling, elementwise
arithmetic, concat, reshape/flatten), each with its attributes checked, as a plain ``nn.Module``:
convolutions and matrix products become real ``nn.Conv2d``/``nn.Linear`` modules (named after
their ONNX weights), so aihwkit converts them to crossbar tiles like any built-in model. An
exporter that folded batch norm into the convolutions leaves the graph's convolutions as the
crossbar layers, and the reports name those.

Limits (``OnnxLimits``) bound the file and what parsing it costs (parsed first in a child process
under a memory limit: protobuf can expand a file of empty records a hundredfold), each weight and
all weights together, the node count and the graph's depth; a dry run on ``meta`` tensors (no
memory) at batch 1 and 2 bounds every activation, the live total and the multiply-adds per image,
and proves each tensor grows only linearly with the batch (no step mixes images), so neither
loading nor a forward pass can exhaust memory or time. There are no loops or branches: ONNX's static graph without ``Loop``,
``If`` or ``Scan`` runs each node once.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UserError

EXPORT_HINT = ("export it with torch.onnx.export(model.eval(), (x,), 'model.onnx', dynamo=True, "
               "dynamic_shapes=({0: torch.export.Dim('batch')},))")


@dataclass(frozen=True)
class OnnxLimits:
    """What an ONNX model may hold and compute; generous for image classifiers (ResNet-50 at
    224 px uses under 5% of each)."""

    file_bytes: int = 1 << 30
    parse_bytes: int = 2 << 30             # memory the protobuf parser may use beyond the file's own size × 8
    nodes: int = 5000
    depth: int = 2000
    tensor_elements: int = 1 << 28         # one weight or constant
    weight_bytes: int = 2 << 30            # every weight and constant the graph reads, together
    activation_bytes_per_image: int = 32 << 20  # one intermediate tensor, per image
    live_bytes_per_image: int = 64 << 20   # all intermediates alive at once, per image (× a batch of 128: 8 GiB)
    macs_per_image: int = 2 * 10**10       # multiply-adds of the conv/matrix layers per image (VGG-11 at 224 px: 7.6e9)


LIMITS = OnnxLimits()
_DTYPES = {1: torch.float32, 7: torch.int64}  # ONNX FLOAT and INT64: weights, and shapes/axes
_NAME_PART = re.compile(r"[A-Za-z0-9_]{1,40}")


def _refuse(path: Path, why: str) -> UserError:
    return UserError(f"ONNX model {path} refused: {why}")


@dataclass
class Node:
    """One parsed ONNX node: its op, input and output names, and attributes as Python values."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]


class Graph:
    """The parts of an ONNX graph the builders read: constants (initializers and ``Constant``
    nodes) by name, and the file path for error lines."""

    def __init__(self, path: Path, constants: dict[str, torch.Tensor], opset: int):
        self.path = path
        self.constants = constants
        self.opset = opset

    def const(self, node: Node, index: int, what: str) -> torch.Tensor:
        """Input ``index`` of ``node``, which must be a constant (a weight, a shape, axes)."""
        if index >= len(node.inputs) or node.inputs[index] not in self.constants:
            raise _refuse(self.path, f"{node.op} node {_short(node.name)} needs its {what} as a constant "
                                     "(an initializer), not a computed tensor")
        return self.constants[node.inputs[index]]

    def optional_const(self, node: Node, index: int, what: str) -> torch.Tensor | None:
        if index >= len(node.inputs) or not node.inputs[index]:
            return None
        return self.const(node, index, what)


def _short(text: str) -> str:
    """A name from the file, safe to print: printable, at most 40 characters."""
    clean = "".join(c if c.isprintable() else "?" for c in str(text))
    return repr(clean[:40] + ("…" if len(clean) > 40 else ""))


# ---- operators: each builder checks attributes and returns (module or None, function) -------

Step = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class Op:
    """A vetted ONNX operator: the attributes it may carry (with the values it may take, when
    only some are supported) and how to build its torch step."""

    build: Callable[[Node, Graph], tuple[nn.Module | None, Step]]
    attrs: dict[str, int] = field(default_factory=dict)  # name → ONNX AttributeType it must have


_F, _I, _S, _FS, _IS = 1, 2, 3, 6, 7  # onnx.AttributeProto: FLOAT, INT, STRING, FLOATS, INTS


def _pads2d(node: Node, graph: Graph) -> tuple[int, int]:
    if node.attrs.get("auto_pad", "NOTSET") != "NOTSET":
        raise _refuse(graph.path, f"{node.op} uses auto_pad; export with explicit pads")
    pads = list(node.attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4 or pads[:2] != pads[2:] or min(pads) < 0:
        raise _refuse(graph.path, f"{node.op} {_short(node.name)} has negative, asymmetric or non-2-D pads {pads[:8]}")
    return int(pads[0]), int(pads[1])


def _check_pads_within(node: Node, graph: Graph, pads: tuple[int, int], span: tuple[int, int]) -> None:
    """Padding beyond what the kernel spans only computes on zeros (a compute bomb)."""
    if any(p >= s for p, s in zip(pads, span)):
        raise _refuse(graph.path, f"{node.op} {_short(node.name)} pads {list(pads)} reach past its kernel span {list(span)}")


def _pair(node: Node, key: str, default: int = 1) -> tuple[int, int]:
    value = list(node.attrs.get(key, [default, default]))
    if len(value) != 2 or not all(0 < int(v) <= 4096 for v in value):
        raise UserError(f"{node.op} {_short(node.name)} has an unsupported {key} {value[:8]} (2-D, 1 to 4096)")
    return int(value[0]), int(value[1])


def _conv(node: Node, graph: Graph) -> tuple[nn.Module, Step]:
    w = graph.const(node, 1, "weight")
    b = graph.optional_const(node, 2, "bias")
    if w.dim() != 4 or 0 in w.shape:
        raise _refuse(graph.path, f"Conv {_short(node.name)} is not 2-D or has an empty weight {list(w.shape)}")
    groups = int(node.attrs.get("group", 1))
    if groups < 1 or w.shape[0] % groups:
        raise _refuse(graph.path, f"Conv {_short(node.name)} has an invalid group count {groups}")
    if "kernel_shape" in node.attrs and tuple(node.attrs["kernel_shape"]) != tuple(w.shape[2:]):
        raise _refuse(graph.path, f"Conv {_short(node.name)}: kernel_shape disagrees with its weight")
    if b is not None and b.shape != (w.shape[0],):
        raise _refuse(graph.path, f"Conv {_short(node.name)}: bias shape {tuple(b.shape)} does not fit its weight")
    pads, dilation = _pads2d(node, graph), _pair(node, "dilations")
    _check_pads_within(node, graph, pads, tuple((k - 1) * d + 1 for k, d in zip(w.shape[2:], dilation)))
    conv = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=_pair(node, "strides"),
                     padding=pads, dilation=dilation, groups=groups, bias=b is not None)
    with torch.no_grad():
        conv.weight.copy_(w)
        if b is not None:
            conv.bias.copy_(b)
    return conv, lambda m, x: m(x)


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    """``weight`` as (out, in)."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def _gemm(node: Node, graph: Graph) -> tuple[nn.Module, Step]:
    if int(node.attrs.get("transA", 0)):
        raise _refuse(graph.path, f"Gemm {_short(node.name)} transposes its input (transA)")
    b = graph.const(node, 1, "weight")
    if b.dim() != 2:
        raise _refuse(graph.path, f"Gemm {_short(node.name)} has a weight of {b.dim()} dimensions")
    w = (b if int(node.attrs.get("transB", 0)) else b.t()) * float(node.attrs.get("alpha", 1.0))
    c = graph.optional_const(node, 2, "bias")
    if 0 in w.shape:
        raise _refuse(graph.path, f"Gemm {_short(node.name)} has an empty weight {list(w.shape)}")
    if c is not None:
        if tuple(c.shape) not in ((), (1,), (w.shape[0],), (1, w.shape[0])):
            raise _refuse(graph.path, f"Gemm {_short(node.name)}: a bias of shape {list(c.shape)[:4]} for "
                                      f"{w.shape[0]} outputs (give (), (1,), ({w.shape[0]},) or (1, {w.shape[0]}))")
        c = (c.reshape(-1) * float(node.attrs.get("beta", 1.0))).expand(w.shape[0]).clone()
    layer = _linear(w, c)

    def step(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise UserError(f"Gemm {_short(node.name)} received a {x.dim()}-D input; ONNX Gemm takes 2-D")
        return m(x)
    return layer, step


def _matmul(node: Node, graph: Graph) -> tuple[nn.Module, Step]:
    b = graph.const(node, 1, "weight")
    if b.dim() != 2 or 0 in b.shape:
        raise _refuse(graph.path, f"MatMul {_short(node.name)} has a weight of shape {list(b.shape)[:4]}; 2-D needed")
    return _linear(b.t(), None), lambda m, x: m(x)


def _batch_norm(node: Node, graph: Graph) -> tuple[nn.Module, Step]:
    if int(node.attrs.get("training_mode", 0)) or len(node.outputs) > 1:
        raise _refuse(graph.path, f"BatchNormalization {_short(node.name)} is in training mode")
    scale, bias, mean, var = (graph.const(node, i, what) for i, what in
                              enumerate(("scale", "bias", "mean", "variance"), start=1))
    if not scale.shape == bias.shape == mean.shape == var.shape or scale.dim() != 1:
        raise _refuse(graph.path, f"BatchNormalization {_short(node.name)} has mismatched parameter shapes")
    bn = nn.BatchNorm2d(scale.numel(), eps=float(node.attrs.get("epsilon", 1e-5))).eval()
    with torch.no_grad():
        bn.weight.copy_(scale), bn.bias.copy_(bias), bn.running_mean.copy_(mean), bn.running_var.copy_(var)

    def step(m: nn.Module, x: torch.Tensor) -> torch.Tensor:  # BatchNorm2d checks 4-D; ONNX allows (N, C, ...)
        return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)
    return bn, step


def _pure(fn: Callable[[Node, Graph], Step]) -> Callable[[Node, Graph], tuple[None, Step]]:
    """A builder of a weightless step."""
    return lambda node, graph: (None, fn(node, graph))


def _max_pool(node: Node, graph: Graph) -> Step:
    if int(node.attrs.get("storage_order", 0)) or len(node.outputs) > 1:
        raise _refuse(graph.path, f"MaxPool {_short(node.name)} asks for indices or column-major storage")
    k, s, p, d = (_pair(node, "kernel_shape"), _pair(node, "strides"), _pads2d(node, graph),
                  _pair(node, "dilations"))
    _check_pads_within(node, graph, p, tuple((kk - 1) * dd + 1 for kk, dd in zip(k, d)))
    ceil = bool(node.attrs.get("ceil_mode", 0))
    return lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode=ceil)


def _avg_pool(node: Node, graph: Graph) -> Step:
    k, s, p = _pair(node, "kernel_shape"), _pair(node, "strides"), _pads2d(node, graph)
    _check_pads_within(node, graph, p, k)
    ceil, include = bool(node.attrs.get("ceil_mode", 0)), bool(node.attrs.get("count_include_pad", 0))
    return lambda x: F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=include)


def _axis(x: torch.Tensor, axis: int, node: Node) -> int:
    """``axis`` of ``x`` as a non-negative index, never the batch's."""
    if not -x.dim() <= axis < x.dim():
        raise UserError(f"{node.op} {_short(node.name)}: axis {axis} is out of range for a {x.dim()}-D tensor")
    axis %= x.dim()
    if axis == 0:
        raise UserError(f"{node.op} {_short(node.name)} works across the batch (axis 0): it would mix images")
    return axis


def _reduce_mean(node: Node, graph: Graph) -> Step:
    axes = node.attrs.get("axes")  # opset < 18: an attribute; from 18: the second input
    if axes is None:
        given = graph.optional_const(node, 1, "axes")
        axes = given.tolist() if given is not None else None
    if not axes:
        raise _refuse(graph.path, f"ReduceMean {_short(node.name)} reduces every axis, the batch included")
    dims, keep = [int(a) for a in axes], bool(node.attrs.get("keepdims", 1))
    return lambda x: x.mean(dim=[_axis(x, a, node) for a in dims], keepdim=keep)


def _reshape(node: Node, graph: Graph) -> Step:
    shape = graph.const(node, 1, "shape")
    if shape.dtype != torch.int64 or shape.dim() != 1 or shape.numel() > 8:
        raise _refuse(graph.path, f"Reshape {_short(node.name)} needs a constant shape of at most 8 integers")
    dims = [int(v) for v in shape.tolist()]
    if int(node.attrs.get("allowzero", 0)) and 0 in dims:
        raise _refuse(graph.path, f"Reshape {_short(node.name)} asks for an empty dimension (allowzero)")
    if sum(d == -1 for d in dims) > 1 or any(d < -1 for d in dims):
        raise _refuse(graph.path, f"Reshape {_short(node.name)} has an invalid shape {dims}")

    def step(x: torch.Tensor) -> torch.Tensor:  # 0 copies the input's dimension (ONNX, allowzero=0)
        return x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(dims)])
    return step


def _flatten(node: Node, graph: Graph) -> Step:
    axis = int(node.attrs.get("axis", 1))
    if axis != 1:
        raise _refuse(graph.path, f"Flatten {_short(node.name)} has axis {axis}; only 1 (keep the batch) is supported")
    return lambda x: x.flatten(1)


def _concat(node: Node, graph: Graph) -> Step:
    if "axis" not in node.attrs:
        raise _refuse(graph.path, f"Concat {_short(node.name)} has no axis")
    axis = int(node.attrs["axis"])
    return lambda *xs: torch.cat(xs, dim=_axis(xs[0], axis, node))


def _softmax(node: Node, graph: Graph) -> Step:
    if graph.opset < 13:  # before 13 Softmax flattened every axis from `axis` on (default 1)
        raise _refuse(graph.path, f"Softmax {_short(node.name)} uses opset {graph.opset}'s flattening semantics; "
                                  "export with opset 13 or later")
    axis = int(node.attrs.get("axis", -1))
    return lambda x: torch.softmax(x, dim=_axis(x, axis, node))


def _clip(node: Node, graph: Graph) -> Step:
    lo, hi = graph.optional_const(node, 1, "min"), graph.optional_const(node, 2, "max")
    if any(t is not None and t.numel() != 1 for t in (lo, hi)):
        raise _refuse(graph.path, f"Clip {_short(node.name)} needs a single value for min and max")
    lo_v = float(lo) if lo is not None else node.attrs.get("min")
    hi_v = float(hi) if hi is not None else node.attrs.get("max")
    return lambda x: torch.clamp(x, min=lo_v, max=hi_v)


def _global(reduce: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Node, Graph], Step]:
    """Global pooling of a 4-D (N, C, H, W) tensor."""
    def build(node: Node, graph: Graph) -> Step:
        def step(x: torch.Tensor) -> torch.Tensor:
            if x.dim() != 4:
                raise UserError(f"{node.op} {_short(node.name)} received a {x.dim()}-D tensor; only 4-D is supported")
            return reduce(x)
        return step
    return build


def _dropout(node: Node, graph: Graph) -> Step:
    """Inference: the identity. A training-mode input (opset 12+) must be a constant false."""
    mode = graph.optional_const(node, 2, "training_mode")
    if mode is not None and bool(mode.reshape(-1)[0]):
        raise _refuse(graph.path, f"Dropout {_short(node.name)} is in training mode")
    return lambda x: x


def _binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[Node, Graph], Step]:
    """Elementwise arithmetic between two tensors, either of which may be a constant."""
    return lambda node, graph: fn


ELEMENTWISE = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}

OPS: dict[str, Op] = {
    "Conv": Op(_conv, {"group": _I, "pads": _IS, "strides": _IS, "dilations": _IS, "kernel_shape": _IS,
                       "auto_pad": _S}),
    "Gemm": Op(_gemm, {"alpha": _F, "beta": _F, "transA": _I, "transB": _I}),
    "MatMul": Op(_matmul),
    "BatchNormalization": Op(_batch_norm, {"epsilon": _F, "momentum": _F, "training_mode": _I, "spatial": _I}),
    "Relu": Op(_pure(lambda n, g: F.relu)),
    "LeakyRelu": Op(_pure(lambda n, g: lambda x, a=float(n.attrs.get("alpha", 0.01)): F.leaky_relu(x, a)),
                    {"alpha": _F}),
    "Sigmoid": Op(_pure(lambda n, g: torch.sigmoid)),
    "Tanh": Op(_pure(lambda n, g: torch.tanh)),
    "Clip": Op(_pure(_clip), {"min": _F, "max": _F}),
    "Softmax": Op(_pure(_softmax), {"axis": _I}),
    "Identity": Op(_pure(lambda n, g: lambda x: x)),
    "Dropout": Op(_pure(_dropout), {"seed": _I, "ratio": _F}),
    "MaxPool": Op(_pure(_max_pool), {"kernel_shape": _IS, "strides": _IS, "pads": _IS, "dilations": _IS,
                                     "ceil_mode": _I, "auto_pad": _S, "storage_order": _I}),
    "AveragePool": Op(_pure(_avg_pool), {"kernel_shape": _IS, "strides": _IS, "pads": _IS, "ceil_mode": _I,
                                         "count_include_pad": _I, "auto_pad": _S}),
    "GlobalAveragePool": Op(_pure(_global(lambda x: x.mean(dim=(2, 3), keepdim=True)))),
    "GlobalMaxPool": Op(_pure(_global(lambda x: x.amax(dim=(2, 3), keepdim=True)))),
    "ReduceMean": Op(_pure(_reduce_mean), {"axes": _IS, "keepdims": _I, "noop_with_empty_axes": _I}),
    "Reshape": Op(_pure(_reshape), {"allowzero": _I}),
    "Flatten": Op(_pure(_flatten), {"axis": _I}),
    "Concat": Op(_pure(_concat), {"axis": _I}),
    **{name: Op(_pure(_binary(fn))) for name, fn in ELEMENTWISE.items()},
}
WEIGHT_INPUTS = {"Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,), "BatchNormalization": (1, 2, 3, 4),
                 "Reshape": (1,), "Clip": (1, 2), "ReduceMean": (1,), "Dropout": (1, 2)}
CROSSBAR_OPS = ("Conv", "Gemm", "MatMul")
MODULE_OPS = (*CROSSBAR_OPS, "BatchNormalization")  # the nodes that become submodules (named after a weight)
PARSE_PROBE_FROM = 4 << 20  # smaller files cannot expand past a few hundred MiB when parsed


# ---- parsing ---------------------------------------------------------------------------------

_NUMPY = {1: np.float32, 7: np.int64}


def _external_bytes(proto: Any, path: Path, count: int, itemsize: int) -> bytes:
    """The bytes of a tensor stored beside the model (torch.onnx writes ``model.onnx.data``):
    only a plain file in the model's own folder, never a path out of it or a link, and only the
    range the tensor's shape needs."""
    info = {e.key: e.value for e in proto.external_data}
    location = info.get("location", "")
    name = _short(proto.name)
    if (not location or "/" in location or "\\" in location or location in (".", "..") or len(location) > 200
            or not location.isprintable()):
        raise _refuse(path, f"tensor {name} points outside the model's folder ({_short(location)}); keep its "
                            "data file beside the model")
    data_file = path.parent / location
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", count * itemsize))
    except ValueError:
        raise _refuse(path, f"tensor {name} has a malformed external-data record") from None
    if offset < 0 or length != count * itemsize:
        raise _refuse(path, f"tensor {name}'s external data is {length} bytes, but its shape needs {count * itemsize}")
    try:
        if data_file.is_symlink() or not data_file.is_file():
            raise _refuse(path, f"tensor {name}'s data file {_short(location)} is missing or a link; keep the "
                                "data file torch.onnx wrote beside the model")
        with open(data_file, "rb") as handle:
            handle.seek(offset)
            raw = handle.read(length)
    except OSError as exc:
        raise _refuse(path, f"cannot read tensor {name}'s data file {_short(location)} "
                            f"({exc.strerror or type(exc).__name__})") from None
    if len(raw) != length:
        raise _refuse(path, f"tensor {name}'s data runs past the end of {_short(location)}")
    return raw


def _tensor(proto: Any, path: Path, limits: OnnxLimits) -> torch.Tensor:
    """An initializer or constant as a torch tensor: float32 or int64, inside the file or in a
    data file beside it."""
    from onnx import numpy_helper

    name = _short(proto.name)
    if proto.data_type not in _DTYPES:
        raise _refuse(path, f"tensor {name} has ONNX data type {proto.data_type}; only float32 weights and "
                            "int64 shapes are supported")
    dims = [int(d) for d in proto.dims]
    count = int(np.prod(dims, dtype=np.float64))
    if any(d < 0 for d in dims) or count > limits.tensor_elements:
        raise _refuse(path, f"tensor {name} has {dims[:8]} elements, over the limit of {limits.tensor_elements:,}")
    dtype = np.dtype(_NUMPY[proto.data_type]).newbyteorder("<")
    try:
        if proto.data_location == 1:  # EXTERNAL
            array = np.frombuffer(_external_bytes(proto, path, count, dtype.itemsize), dtype=dtype).reshape(dims)
        else:
            array = numpy_helper.to_array(proto)
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - a malformed tensor record of any kind
        raise _refuse(path, f"tensor {name} is malformed (its data does not match its shape)") from None
    if list(array.shape) != dims:
        raise _refuse(path, f"tensor {name}'s data does not match its shape")
    return torch.from_numpy(np.array(array, dtype=_NUMPY[proto.data_type], copy=True))


def _attributes(proto: Any, path: Path, op: Op, op_type: str) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for attr in proto.attribute:
        if attr.name not in op.attrs:
            raise _refuse(path, f"{op_type} node {_short(proto.name)} has an unsupported attribute {_short(attr.name)}")
        if attr.type != op.attrs[attr.name]:
            raise _refuse(path, f"{op_type} node {_short(proto.name)}: attribute {_short(attr.name)} has the wrong "
                                "type (a subgraph, a tensor, or a number where a list belongs or the reverse)")
        value = helper.get_attribute_value(attr)
        out[attr.name] = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return out


_PARSE_PROBE = """
import resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import onnx
from google.protobuf.message import DecodeError
try:
    with open(sys.argv[1], "rb") as handle:
        onnx.load_model_from_string(handle.read())
except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError):
    sys.exit(3)  # not ONNX, or not within the memory limit (protobuf says both the same way)
"""
_NOT_ONNX = 3


def _parse_costs_bounded(path: Path, size: int, limits: OnnxLimits) -> None:
    """Parse the file once in a child process under a memory and time limit: protobuf turns a file
    of empty repeated records into objects a hundred times its size, before any count can be read.
    Any end of the child but success or "not ONNX" (a MemoryError, or protobuf aborting on a failed
    allocation) refuses the file."""
    import os
    import subprocess
    import sys

    budget = limits.parse_bytes + 8 * size
    try:
        proc = subprocess.run([sys.executable, "-c", _PARSE_PROBE, str(path), str(budget)], capture_output=True,
                              timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired:
        raise _refuse(path, "parsing it takes over 2 minutes") from None
    if proc.returncode == _NOT_ONNX:  # protobuf reports a failed allocation as a parse error too
        raise UserError(f"{path} is not an ONNX model (it does not parse as one within {budget >> 20:,} MiB of "
                        f"memory); {EXPORT_HINT}")
    if proc.returncode != 0:
        raise _refuse(path, f"parsing it needs over {budget >> 20:,} MiB (a file of that many records is no classifier)")


def _parse(data: bytes, path: Path, limits: OnnxLimits) -> Any:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError):
        raise UserError(f"{path} is not an ONNX model (it does not parse as one); {EXPORT_HINT}") from None
    if not model.HasField("graph") or not model.graph.node:
        raise UserError(f"{path} is not an ONNX model (no graph); {EXPORT_HINT}")
    domains = {o.domain for o in model.opset_import}
    if model.functions or domains - {"", "ai.onnx"}:
        raise _refuse(path, "it uses custom functions or operator domains; export with the standard ONNX operators")
    if len(model.graph.node) > limits.nodes:
        raise _refuse(path, f"{len(model.graph.node):,} nodes, over the limit of {limits.nodes:,}")
    if len(model.graph.initializer) > 4 * limits.nodes:
        raise _refuse(path, f"{len(model.graph.initializer):,} weights, over the limit of {4 * limits.nodes:,}")
    return model


def _layer_names(nodes: list[Node], weight_names: list[str]) -> list[str]:
    """Module paths for the crossbar layers, from their weights' names ("layer1.0.conv1.weight" →
    "layer1.0.conv1"), made safe and unique; "onnx_<op>_<i>" where a name is unusable."""
    names, seen = [], set()
    for i, (node, weight) in enumerate(zip(nodes, weight_names)):
        base = weight[: -len(".weight")] if weight.endswith(".weight") else weight
        parts = base.split(".")
        ok = 0 < len(parts) <= 8 and all(_NAME_PART.fullmatch(p) and p not in _RESERVED and not p.startswith(
            ("_", "const_", "onnx_")) for p in parts)
        name = base if ok else f"onnx_{node.op.lower()}_{i}"
        if name in seen or any(s.startswith(name + ".") or name.startswith(s + ".") for s in seen):
            name = f"onnx_{node.op.lower()}_{i}"  # unique: no name from the file starts with "onnx_"
        seen.add(name)
        names.append(name)
    return names


_RESERVED = frozenset(dir(nn.Module()))  # a layer named "forward" or "training" would replace the module's own


class OnnxNetwork(nn.Module):
    """An ONNX graph run as torch steps, in the file's order; weighted steps are submodules."""

    def __init__(self, steps: list[tuple[str | None, Step, list[str], str]], input_name: str, output_name: str,
                 constants: dict[str, torch.Tensor], last_use: dict[str, int]):
        super().__init__()
        self._steps = steps
        self._input, self._output = input_name, output_name
        self._last_use = last_use
        self._const_keys = {}
        for i, (name, value) in enumerate(constants.items()):
            key = f"const_{i}"
            self.register_buffer(key, value, persistent=False)
            self._const_keys[name] = key
        self._tracker: Callable[[int, str, torch.Tensor, dict[str, torch.Tensor]], None] | None = None

    def add_layer(self, path: str, module: nn.Module) -> None:
        """``module`` at ``path``; a name already taken is an error, never a silent replacement."""
        parent: nn.Module = self
        *head, last = path.split(".")
        for part in head:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
            if not isinstance(parent, nn.Module) or type(parent) is not nn.Module:
                raise UserError(f"ONNX layer name {_short(path)} collides with another layer")
        if hasattr(parent, last):
            raise UserError(f"ONNX layer name {_short(path)} collides with another layer")
        parent.add_module(last, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self._input: x}
        for i, (layer, step, inputs, output) in enumerate(self._steps):
            args = [values[n] if n in values else getattr(self, self._const_keys[n]) for n in inputs]
            values[output] = step(self.get_submodule(layer), *args) if layer else step(*args)
            if self._tracker:
                self._tracker(i, output, values[output], values)
            for n in inputs:  # free what no later step reads
                if self._last_use.get(n) == i and n != self._output:
                    values.pop(n, None)
        return values[self._output]


def _dry_run(network: OnnxNetwork, size: int, path: Path, limits: OnnxLimits) -> None:
    """Every activation's size at batch 1 and 2 on ``meta`` tensors (nothing allocated): each
    within the per-image limits, and growing only linearly with the batch."""
    memo: dict[int, Any] = {}
    for t in [*network.parameters(), *network.buffers()]:  # the copy gets shapes only, never the weights
        empty = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(empty, requires_grad=False) if isinstance(t, nn.Parameter) else empty
    meta = copy.deepcopy(network, memo)
    layers = {name: m for name, m in meta.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    sizes: dict[int, list[int]] = {}
    for batch in (1, 2):
        seen: list[int] = []
        macs = [0]

        def track(i: int, name: str, value: torch.Tensor, alive: dict[str, torch.Tensor]) -> None:
            nbytes = value.numel() * value.element_size()
            live = sum(v.numel() * v.element_size() for v in alive.values())
            if nbytes > limits.activation_bytes_per_image * batch:
                raise _refuse(path, f"step {i} ({_short(name)}) makes a {nbytes / batch / 2**20:,.0f} MiB tensor per "
                                    f"image, over the limit of {limits.activation_bytes_per_image >> 20} MiB")
            if live > limits.live_bytes_per_image * batch:
                raise _refuse(path, f"at step {i} its tensors hold {live / batch / 2**20:,.0f} MiB per image, over "
                                    f"the limit of {limits.live_bytes_per_image >> 20} MiB")
            layer = layers.get(meta._steps[i][0] or "")
            if layer is not None:  # each output value costs one dot product over the weight's fan-in
                macs[0] += value.numel() * (layer.weight[0].numel())
                if macs[0] > limits.macs_per_image * batch:
                    raise _refuse(path, f"its layers need over {limits.macs_per_image:.1e} multiply-adds per image "
                                        f"(at step {i}); no classifier needs that many")
            seen.append(value.numel())

        meta._tracker = track
        try:
            with torch.no_grad():
                meta(torch.empty(batch, 3, size, size, device="meta"))
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - shapes that do not fit: the graph is not for this input
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise UserError(f"the ONNX model {path} fails on a {size}×{size} RGB batch ({text}); set dataset.size "
                            "to the resolution it was exported at, with a free batch size") from None
        sizes[batch] = seen
    grown = [i for i, (a, b) in enumerate(zip(sizes[1], sizes[2])) if b > 2 * a]
    if grown:
        raise _refuse(path, f"step {grown[0]}'s tensor grows faster than the batch (it mixes images)")


def load_onnx(path: Path, image_size: int, limits: OnnxLimits = LIMITS) -> OnnxNetwork:
    """The ONNX model in ``path`` as an ``OnnxNetwork`` on the CPU in eval mode, refused with a
    one-line UserError if it uses anything outside the vetted operators or the limits."""
    try:
        size = path.stat().st_size
        if size > limits.file_bytes:
            raise _refuse(path, f"{size / 2**20:,.0f} MiB, over the limit of {limits.file_bytes >> 20} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read model file {path} ({exc.strerror or type(exc).__name__})") from None
    if size > PARSE_PROBE_FROM:
        _parse_costs_bounded(path, size, limits)
    model = _parse(data, path, limits)
    g = model.graph
    read = {name for node in g.node for name in node.input}
    initializers = {t.name for t in g.initializer}
    constants = {t.name: _tensor(t, path, limits) for t in g.initializer if t.name in read}  # unread ones stay unread
    inputs = [i.name for i in g.input if i.name not in initializers]
    if len(inputs) != 1 or len(g.output) != 1:
        raise _refuse(path, f"{len(inputs)} inputs and {len(g.output)} outputs; a classifier has one image in, "
                            "logits out")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    graph = Graph(path, constants, opset)
    nodes: list[Node] = []
    for proto in g.node:
        op = OPS.get(proto.op_type)
        if proto.domain not in ("", "ai.onnx") or (op is None and proto.op_type != "Constant"):
            raise _refuse(path, f"operator {_short(proto.op_type)} is not one of the supported "
                                f"({', '.join(sorted(OPS))}, Constant)")
        if proto.op_type == "Constant":
            if len(proto.attribute) != 1 or proto.attribute[0].name != "value" or len(proto.output) != 1:
                raise _refuse(path, f"Constant node {_short(proto.name)} must hold one tensor value")
            constants[proto.output[0]] = _tensor(proto.attribute[0].t, path, limits)
            continue
        if len(proto.output) != 1 and proto.op_type != "Dropout":
            raise _refuse(path, f"{proto.op_type} node {_short(proto.name)} has {len(proto.output)} outputs")
        nodes.append(Node(proto.op_type, proto.name, list(proto.input), list(proto.output),
                          _attributes(proto, path, op, proto.op_type)))
    for node in nodes:  # extra outputs (a Dropout mask) must be unused
        if node.op == "Dropout" and len(node.outputs) > 1:
            node.outputs = node.outputs[:1]

    weight_bytes = sum(constants[n].numel() * constants[n].element_size() for node in nodes for n in node.inputs
                       if n in constants)  # per reading node: a weight shared by many layers is copied into each
    if weight_bytes > limits.weight_bytes:
        raise _refuse(path, f"its layers read {weight_bytes / 2**20:,.0f} MiB of weights, over the limit of "
                            f"{limits.weight_bytes >> 20:,} MiB")
    produced = {inputs[0], *constants}
    depth = {inputs[0]: 0, **{c: 0 for c in constants}}
    last_use: dict[str, int] = {}
    weighted = [n for n in nodes if n.op in MODULE_OPS]
    names = iter(_layer_names(weighted, [n.inputs[1] if len(n.inputs) > 1 else "" for n in weighted]))
    steps: list[tuple[str | None, Step, list[str], str]] = []
    layers: list[tuple[str, nn.Module]] = []
    for i, node in enumerate(nodes):
        missing = [n for n in node.inputs if n and n not in produced]
        if missing:
            raise _refuse(path, f"node {_short(node.name)} reads {_short(missing[0])} before it is computed "
                                "(the graph is not in order, or it is incomplete)")
        if node.outputs[0] in produced:
            raise _refuse(path, f"node {_short(node.name)} writes a name already in use")
        module, step = OPS[node.op].build(node, graph)
        weight_slots = WEIGHT_INPUTS.get(node.op, ())
        data_inputs = [n for k, n in enumerate(node.inputs) if n and k not in weight_slots]
        if not data_inputs or not any(n not in constants for n in data_inputs):
            raise _refuse(path, f"node {_short(node.name)} computes only from constants")
        layer = None
        if module is not None:
            layer = next(names)
            layers.append((layer, module))
        d = 1 + max(depth.get(n, 0) for n in data_inputs)
        if d > limits.depth:
            raise _refuse(path, f"a path of {d:,} nodes, over the depth limit of {limits.depth:,}")
        out = node.outputs[0]
        depth[out] = d
        produced.add(out)
        for n in data_inputs:
            last_use[n] = i
        steps.append((layer, step, data_inputs, out))
    if g.output[0].name not in produced or g.output[0].name in constants:
        raise _refuse(path, f"its output {_short(g.output[0].name)} is never computed")
    used_constants = {n: constants[n] for _, _, ins, _ in steps for n in ins if n in constants}
    network = OnnxNetwork(steps, inputs[0], g.output[0].name, used_constants, last_use)
    for layer, module in layers:
        network.add_layer(layer, module)
    network.eval()
    _dry_run(network, image_size, path, limits)
    return network


