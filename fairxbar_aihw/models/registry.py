"""Model registry: torchvision ResNet-18 / VGG-11(-BN) adapted to small inputs, and a small CNN.

Why the adaptations: the paper trains at 128×128 and our CPU runs at 32–64 px, so the ImageNet
stems would shrink feature maps to nothing. For inputs ≤ 64 px ResNet-18 gets a 3×3 stride-1
stem without max-pool (the usual CIFAR variant); VGG heads use global average pooling and a
512-wide classifier instead of 25088×4096. Nothing is downloaded: ImageNet weights load only
from a local file the user names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ..errors import UserError
from .architectures import MIN_IMAGE_SIZE

# Which weights of each crossbar layer a chip's errors target: boolean, keyed by module name, each in
# aihwkit's ``get_weights()`` layout (out, in·kh·kw). Saliency makes them; hardware and retraining apply them.
Masks = dict[str, torch.Tensor]


def _small_cnn(num_classes: int, image_size: int) -> nn.Module:
    """Three conv blocks + MLP head: BackPACK-friendly (no BN, no residuals) and fast on CPU."""
    if image_size % 8 != 0:
        raise UserError(f"small-cnn needs an image size divisible by 8, got {image_size}")
    feat = image_size // 8
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * feat * feat, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
    )


def _torchvision_model(name: str) -> Callable[..., nn.Module]:
    """A torchvision builder, imported when a model is built: importing torchvision costs ~0.8 s per
    process (it pulls in torch._dynamo), which a small-cnn study's workers never need."""
    import torchvision.models

    return getattr(torchvision.models, name)


def _resnet18(num_classes: int, image_size: int) -> nn.Module:
    model = _torchvision_model("resnet18")(weights=None, num_classes=num_classes)
    if image_size <= 64:
        model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model


def _vgg(name: str) -> Callable[[int, int], nn.Module]:
    def build(num_classes: int, image_size: int) -> nn.Module:
        model = _torchvision_model(name)(weights=None)
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier = nn.Sequential(
            nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(512, num_classes)
        )
        return model

    return build


MODELS: dict[str, Callable[[int, int], nn.Module]] = {  # keys: names.MODEL_NAMES
    "small-cnn": _small_cnn,
    "resnet18": _resnet18,
    "vgg11": _vgg("vgg11"),
    "vgg11_bn": _vgg("vgg11_bn"),
}


def load_local_weights(model: nn.Module, path: str | Path) -> list[str]:
    """Load a local state dict (e.g. ImageNet weights), skipping shape-mismatched layers.

    Returns the names that were skipped so callers can report them.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pretrained weights file not found: {path} (weights are never downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"cannot read weights file {path}: {exc}") from exc
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def build(name: str, num_classes: int, image_size: int = 32, pretrained: str | None = None) -> nn.Module:
    """A fresh model by registry name (``small-cnn``, ``resnet18``, ``vgg11``, ``vgg11_bn``)."""
    if name not in MODELS:
        raise UserError(f"unknown model '{name}'; choose one of {', '.join(MODELS)}")
    if image_size < MIN_IMAGE_SIZE[name]:
        raise UserError(f"model {name} needs images of at least {MIN_IMAGE_SIZE[name]} px, got {image_size}; "
                        "raise dataset.size")
    if num_classes < 2:
        raise UserError(f"num_classes must be at least 2, got {num_classes}")
    model = MODELS[name](num_classes, image_size)
    if pretrained:
        load_local_weights(model, pretrained)
    return model


def crossbar_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Conv/linear modules by name, in order: the layers that go onto crossbars and get masks."""
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) or (
        getattr(m, "original_name", "") in ("Conv2d", "Linear") and int(getattr(m, "groups", 1)) == 1)}
    # a TorchScript model keeps the class names; models/programs.py names an exported model's layers


def analog_layer_names(model: nn.Module) -> list[str]:
    return list(crossbar_layers(model))


def device_of(model: nn.Module) -> torch.device:
    """The device a model's parameters live on (analog models included)."""
    return next(model.parameters()).device
