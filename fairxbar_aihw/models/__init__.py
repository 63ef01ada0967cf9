"""Model registry (public: ``fx.models.build``)."""
from ..lazy import lazy_exports
from .architectures import MIN_IMAGE_SIZE, MODEL_NAMES

_REGISTRY = ["MODELS", "Masks", "analog_layer_names", "build", "crossbar_layers", "device_of", "load_local_weights"]
__all__ = ["build", "MODELS", "MODEL_NAMES"]  # the stable API; helpers stay importable
__getattr__, __dir__ = lazy_exports(__name__, {**{n: ".registry" for n in _REGISTRY}, "registry": ".registry"})
