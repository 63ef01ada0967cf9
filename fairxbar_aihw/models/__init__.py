"""Model registry (public: ``fx.models.build``)."""
from .registry import MODELS, analog_layer_names, build, load_local_weights

__all__ = ["build", "MODELS", "analog_layer_names", "load_local_weights"]
