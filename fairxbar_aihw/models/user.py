"""Your own trained model: a model file (ONNX; or .pt2/TorchScript when trusted), an architecture
plus its weights (a state dict or safetensors), or an entry point.

Why these ways: a deployed model is usually exported (ONNX is the interchange format), a research
model is a state dict beside the code that defines it (here: the tool's own architectures or any
torchvision classifier), and anything else can be built by your own function. ONNX and weights
are data: ONNX is rebuilt from vetted operators (``onnx_graph``), state dicts load with
``weights_only=True`` and safetensors hold tensors only, so no code runs. A .pt2 or TorchScript
file is code, loaded only when the user trusts it (``programs``); an entry point is the user's
own Python code, documented as trusted.

Crossbars: aihwkit converts ``nn.Conv2d`` and ``nn.Linear`` modules. A compiled model has no
Python modules to convert, so ``crossbar_proxy`` mirrors its conv and linear weights (by name)
into plain modules; chips are programmed on the proxy and their weights read back into the
compiled model, the same fast path the study uses for every model.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.fx
import torch.nn as nn

from ..errors import UserError
from ..torchfiles import load_torch_file
from .onnx_graph import load_onnx
from .programs import TRUST_HINT, compiled_kind, load_trusted_program

CROSSBAR_TYPES = ("Conv2d", "Linear")
CROSSBAR_MODULES = (nn.Conv2d, nn.Linear)


@lru_cache(maxsize=1)
def torchvision_names() -> tuple[str, ...]:
    from torchvision.models import list_models

    return tuple(list_models(module=__import__("torchvision").models))


def _file(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"{what} not found: {p}")
    return p


def load_state_dict_model(name: str, path: str, num_classes: int, image_size: int) -> nn.Module:
    """``name`` (a built-in or torchvision architecture) with ``num_classes`` outputs, weights from ``path``."""
    from . import build
    from .architectures import MODEL_NAMES

    if name in MODEL_NAMES:
        model = build(name, num_classes, image_size)
    else:
        import torchvision

        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    state = load_weights(_file(path, "weights file"))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} holds no state dict (a mapping of parameter names to tensors)")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        theirs, ours = set(state), set(model.state_dict())
        shapes = [k for k in theirs & ours if state[k].shape != model.state_dict()[k].shape]
        detail = "; ".join(part for part in (
            f"missing {', '.join(sorted(ours - theirs)[:3])}" if ours - theirs else "",
            f"unexpected {', '.join(sorted(theirs - ours)[:3])}" if theirs - ours else "",
            f"shape mismatch at {', '.join(sorted(shapes)[:3])}" if shapes else "") if part)
        raise UserError(f"state dict {path} does not fit architecture {name} with {num_classes} classes "
                        f"({detail or str(exc).splitlines()[0]}); check model.name and the dataset's classes") from None
    return model


SAFETENSORS_MAX_BYTES = 1 << 32  # 4 GiB: the largest torchvision classifier is under 2.5 GiB


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file: a JSON header and raw tensors, data only (no pickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if path.stat().st_size > SAFETENSORS_MAX_BYTES:
        raise UserError(f"weights file {path} is over {SAFETENSORS_MAX_BYTES >> 30} GiB; no classifier needs that much")
    try:
        return load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise UserError(f"weights file {path} is not a readable safetensors file ({type(exc).__name__})") from None


def load_weights(path: Path) -> Any:
    """The tensors of a weights file: safetensors (by its ``.safetensors`` name) or a torch state
    dict, read with ``weights_only`` (tensors and plain data, never code)."""
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    blob = load_torch_file(path, "state dict",
                           fix="save the weights again as tensors only: torch.save(model.state_dict(), PATH), or "
                               "as safetensors")
    return blob.get("state_dict", blob) if isinstance(blob, dict) else blob


def load_model_file(path: Path, image_size: int, trust_code: bool = False) -> nn.Module:
    """The model in a model file: ONNX (data, always), or a .pt2/TorchScript file (code) only
    when ``trust_code``; the format is read from the file's first bytes, not its name."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise UserError(f"cannot read model file {path} ({exc.strerror or type(exc).__name__})") from None
    kind = compiled_kind(head, path)
    if kind is None:
        return load_onnx(path, image_size)
    if not trust_code:
        label = "torch.export program" if kind == "pt2" else "TorchScript model"
        raise UserError(f"{path} is a {label}, which is code, so it was not loaded; {TRUST_HINT}")
    return load_trusted_program(path, kind)


def load_entry_point(entry: str) -> nn.Module:
    """``module:function`` (trusted code) called with no arguments."""
    module, _, func = entry.partition(":")
    if not module or not func:
        raise UserError(f"model.entry must look like package.module:function, got '{entry}'")
    try:
        fn = getattr(importlib.import_module(module), func)
    except Exception as exc:  # the module is the user's code: any error while importing it is theirs
        raise UserError(f"cannot import model entry point {entry} ({_first_line(exc)})") from None
    try:
        model = fn()
    except Exception as exc:  # it raised, or it needs arguments: it must build the model on its own
        raise UserError(f"model entry point {entry} failed when called with no arguments ({_first_line(exc)}); "
                        "make it build and return your trained nn.Module") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"model entry point {entry} returned {type(model).__name__}, not a torch nn.Module")
    return model


def _first_line(exc: BaseException) -> str:
    """An exception as ``Type: first line of its message``, short enough for a one-line error."""
    text = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_trained(model_cfg: Any, num_classes: int, image_size: int) -> nn.Module:
    """The trained model a study's ``model`` section names, in eval mode on the CPU, checked to
    give ``num_classes`` outputs on an image of the study's size."""
    if model_cfg.file:
        model = load_model_file(_file(model_cfg.file, "model file"), image_size, model_cfg.trust_code)
    elif model_cfg.weights:
        model = load_state_dict_model(model_cfg.name, model_cfg.weights, num_classes, image_size)
    else:
        model = load_entry_point(model_cfg.entry)
    model = model.cpu().eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, 3, image_size, image_size))
    except Exception as exc:
        raise UserError(f"the model fails on a {image_size}×{image_size} RGB batch ({str(exc).splitlines()[0][:160]})"
                        "; set dataset.size to the resolution it was trained at") from None
    if not isinstance(out, torch.Tensor) or out.shape != (2, num_classes):
        raise UserError(f"the model gives outputs of shape {tuple(getattr(out, 'shape', ()))} for a batch of 2; the "
                        f"dataset has {num_classes} classes, so it must give (2, {num_classes}) logits")
    return model


def layer_types(model: nn.Module) -> dict[str, str]:
    """Each named module's type (TorchScript keeps the original class name; ``programs`` names an
    exported model's layers the same way)."""
    return {name: getattr(m, "original_name", type(m).__name__) for name, m in model.named_modules() if name}


def digital_only_layers(model: nn.Module) -> list[str]:
    """Layers with their own weights that stay digital: not conv/linear (normalisation excepted)."""
    out = []
    for name, kind in layer_types(model).items():
        m = dict(model.named_modules())[name]
        own = [p for n, p in m.named_parameters(recurse=False)]
        if own and kind not in CROSSBAR_TYPES and "Norm" not in kind:
            out.append(f"{name} ({kind})")
    return out


def crossbar_proxy(model: nn.Module) -> nn.Module:
    """Plain ``nn.Conv2d``/``nn.Linear`` modules holding ``model``'s crossbar weights under the same
    names: what aihwkit programs when the model itself cannot be converted (TorchScript)."""
    proxy = nn.Module()
    modules = dict(model.named_modules())
    for name, kind in layer_types(model).items():
        if kind not in CROSSBAR_TYPES:
            continue
        m = modules[name]
        w = m.weight.detach().cpu()
        bias = getattr(m, "bias", None) is not None
        if kind == "Linear":
            layer: nn.Module = nn.Linear(w.shape[1], w.shape[0], bias=bias)
        else:
            if int(getattr(m, "groups", 1)) != 1:
                continue  # grouped convolutions stay digital
            layer = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), bias=bias)
        with torch.no_grad():
            layer.weight.copy_(w)
            if bias:
                layer.bias.copy_(m.bias.detach().cpu())
        parent = proxy
        *path, last = name.split(".")
        for part in path:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        parent.add_module(last, layer)
    return proxy


def is_compiled(model: nn.Module) -> bool:
    """A TorchScript or exported model: no Python conv/linear modules aihwkit could convert."""
    return isinstance(model, (torch.jit.ScriptModule, torch.fx.GraphModule)) and not any(
        isinstance(m, CROSSBAR_MODULES) for m in model.modules())
