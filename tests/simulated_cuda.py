"""A CUDA device simulated on the CPU, to test the `--device cuda` path on machines with no GPU.

Tensors moved to "cuda" become wrapper subclasses that hold a CPU tensor (they report device `meta`,
see REPORTED; `.to(t.device)` round-trips to the simulated GPU all the same).
Every aten op goes through one dispatch mode that enforces CUDA's device rules (no mixing of
cuda and cpu tensors except 0-dim cpu scalars, cpu indices for indexing, and cross-device
`copy_`; generators on the op's device) and otherwise runs the op on the CPU. So a path that
would raise "Expected all tensors to be on the same device" on a GPU raises here too, and a
path that passes computes exactly what the CPU path computes (same kernels), which lets tests
compare the two bit for bit. It does not model CUDA numerics, kernels or memory.

Limits: torch.func transforms (vmap, grad) cannot see through the wrapper; a device move of a
non-leaf tensor is not differentiated through; genuine `meta` tensors count as simulated ones.
Each of these fails loudly (an error or a missing gradient), never silently passes.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_map
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")
# what simulated tensors report as their device: not "cuda", because autograd asks the real CUDA
# runtime for a stream of any tensor that says so; "meta" has no-op device guards
REPORTED = torch.device("meta")

# ops for which real CUDA accepts cpu tensors next to cuda ones
_CROSS_DEVICE_OK = {torch.ops.aten.copy_.default, torch.ops.aten._to_copy.default,
                    torch.ops.aten._copy_from.default, torch.ops.aten._copy_from_and_resize.default}
_INDEX_OPS = {torch.ops.aten.index.Tensor, torch.ops.aten.index_put.default,
              torch.ops.aten.index_put_.default, torch.ops.aten._index_put_impl_.default}


class SimCudaTensor(torch.Tensor):
    """A tensor on the simulated GPU; its data (`elem`) lives on the CPU."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor) -> "SimCudaTensor":
        return torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, strides=elem.stride(), storage_offset=elem.storage_offset(),
            dtype=elem.dtype, layout=elem.layout, device=REPORTED, requires_grad=elem.requires_grad)

    def __init__(self, elem: torch.Tensor) -> None:
        self.elem = elem

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        return _run(func, args, kwargs or {})

    def __repr__(self) -> str:
        return f"SimCudaTensor({self.elem!r})"

    def __reduce_ex__(self, protocol: int):  # noqa: ANN204
        # torch.save of a cuda tensor: stored as its CPU data (checkpoints load with map_location)
        return self.elem.__reduce_ex__(protocol)


class DeviceMismatch(RuntimeError):
    """Raised where a real GPU run would fail with a cross-device error."""


def _is_cuda(device: Any) -> bool:
    return device is not None and torch.device(device).type in ("cuda", "meta")


def _check(func, args: tuple, kwargs: dict, on_cuda: bool) -> None:  # noqa: ANN001
    if func in _CROSS_DEVICE_OK:
        return
    gen = kwargs.get("generator")
    if gen is not None and on_cuda and gen.device.type != "cuda":
        raise DeviceMismatch(f"{func}: a {gen.device} generator used for a cuda tensor")
    if func in _INDEX_OPS:  # indices may stay on the cpu; self and the values may not
        leaves = [args[0], *args[2:3]]
    else:
        leaves = tree_flatten((args, kwargs))[0]
    tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
    sim = [t for t in tensors if isinstance(t, SimCudaTensor)]
    cpu = [t for t in tensors if not isinstance(t, SimCudaTensor) and t.dim() > 0]
    if sim and cpu:
        raise DeviceMismatch(f"{func}: expected all tensors on the same device, found cuda:0 "
                             f"{[tuple(t.shape) for t in sim]} and cpu {[tuple(t.shape) for t in cpu]}")


# ops run while the simulation is on, by (device, aten overload packet): tests use it to check that
# the work really ran on the simulated GPU
OPS: Counter = Counter()


def _run(func, args: tuple, kwargs: dict) -> Any:  # noqa: ANN001
    leaves = tree_flatten((args, kwargs))[0]
    inputs_on_cuda = any(isinstance(t, SimCudaTensor) for t in leaves)
    out_on_cuda = inputs_on_cuda
    if "device" in kwargs and kwargs["device"] is not None:
        out_on_cuda = _is_cuda(kwargs["device"])
        kwargs = {**kwargs, "device": CPU}
    _check(func, args, kwargs, out_on_cuda)
    OPS["cuda" if out_on_cuda or inputs_on_cuda else "cpu", func.overloadpacket.__name__] += 1
    by_elem = {id(t.elem): t for t in leaves if isinstance(t, SimCudaTensor)}

    def unwrap(x: Any) -> Any:
        return x.elem if isinstance(x, SimCudaTensor) else x

    out = func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs))

    def wrap(x: Any) -> Any:
        if not isinstance(x, torch.Tensor):
            return x
        if id(x) in by_elem:  # in-place op: hand back the same wrapper
            return by_elem[id(x)]
        return SimCudaTensor(x) if out_on_cuda else x

    return tree_map(wrap, out)


class _SimCudaDispatchMode(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        return _run(func, args, kwargs or {})


class _SimCudaFunctionMode(TorchFunctionMode):
    """Moves between devices before torch's C++ bindings would initialise a real GPU."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        kwargs = kwargs or {}
        if func is torch.Tensor.to:
            device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*args[1:], **kwargs)
            return _move(args[0], device, dtype, memory_format)
        if func is torch.Tensor.cuda:
            return _move(args[0], CUDA, None, None)
        if func is torch.Tensor.cpu:
            return _move(args[0], CPU, None, None)
        if getattr(func, "__self__", None) is _DATA_DESCRIPTOR and func.__name__ == "__set__":
            return _set_data(*args)
        if func is torch.Tensor.tolist and isinstance(args[0], SimCudaTensor):
            return args[0].elem.tolist()
        if func in (torch.Tensor.numpy, torch.Tensor.__array__) and isinstance(args[0], SimCudaTensor):
            raise DeviceMismatch("can't convert cuda:0 device type tensor to numpy; use Tensor.cpu()")
        if _is_cuda(kwargs.get("device")):
            gen = kwargs.get("generator")
            if gen is not None and gen.device.type != "cuda":
                raise DeviceMismatch(f"{func.__name__}: a {gen.device} generator used for a cuda tensor")
            return SimCudaTensor(func(*args, **{**kwargs, "device": CPU}))
        return func(*args, **kwargs)


_DATA_DESCRIPTOR = torch._C.TensorBase.__dict__["data"]


def _set_data(t: torch.Tensor, value: torch.Tensor) -> None:
    """`t.data = value`: a CPU tensor object cannot become a simulated one in place, except that a
    0-dim value may stay a CPU scalar (CUDA itself lets 0-dim CPU tensors mix with cuda tensors;
    aihwkit's analog context is one)."""
    if isinstance(value, SimCudaTensor) and not isinstance(t, SimCudaTensor):
        if value.dim() != 0:
            raise NotImplementedError("simulated cuda: `cpu_tensor.data = cuda_tensor` beyond 0-dim")
        value = value.elem
    _DATA_DESCRIPTOR.__set__(t, value)
    if isinstance(t, SimCudaTensor):  # the wrapper's data lives in `elem`, which set_data can't see
        t.elem = value.elem if isinstance(value, SimCudaTensor) else value


def _move(t: torch.Tensor, device: torch.device | None, dtype: torch.dtype | None,
          memory_format: torch.memory_format | None) -> torch.Tensor:
    """`Tensor.to` semantics: a no-op returns the tensor itself, a device change copies."""
    opts = {k: v for k, v in (("dtype", dtype), ("memory_format", memory_format)) if v is not None}
    on_cuda = isinstance(t, SimCudaTensor)
    if device is None or _is_cuda(device) == on_cuda:
        return t.to(**opts)
    if on_cuda:  # cuda -> cpu
        return t.elem.to(**opts, copy=True)
    moved = SimCudaTensor(t.detach().to(**opts, copy=True))
    return moved.requires_grad_(t.requires_grad) if t.is_leaf else moved


@contextlib.contextmanager
def simulated_cuda() -> Iterator[Counter]:
    """Make `torch.cuda.is_available()` true and run every tensor op under the simulation;
    yields the op counter (cleared on entry)."""
    OPS.clear()
    patches = {"is_available": lambda: True, "device_count": lambda: 1,
               "synchronize": lambda *a, **k: None, "current_device": lambda: 0,
               # the simulated GPU draws from the CPU generator; it has no generator state of its own
               "get_rng_state": lambda *a, **k: torch.zeros(0, dtype=torch.uint8),
               "set_rng_state": lambda *a, **k: None}
    saved = {k: getattr(torch.cuda, k) for k in patches}
    saved_accelerator = torch.accelerator.current_accelerator
    for k, v in patches.items():
        setattr(torch.cuda, k, v)
    torch.accelerator.current_accelerator = lambda check_available=False: None  # no CUDA runtime to ask
    # `module.to("cuda")` moves parameters in place (set_data) on a real GPU; a wrapper subclass
    # can't be set_data'd into a CPU tensor, so swap the objects' contents instead (same effect)
    swap = torch.__future__.get_swap_module_params_on_conversion()
    torch.__future__.set_swap_module_params_on_conversion(True)
    try:
        with _SimCudaFunctionMode(), _SimCudaDispatchMode():
            yield OPS
    finally:
        for k, v in saved.items():
            setattr(torch.cuda, k, v)
        torch.accelerator.current_accelerator = saved_accelerator
        torch.__future__.set_swap_module_params_on_conversion(swap)
