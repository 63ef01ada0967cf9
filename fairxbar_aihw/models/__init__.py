"""Model registry (public: ``fx.models.build``)."""
from .registry import MODELS, analog_layer_names, build, crossbar_layers, device_of, load_local_weights

__all__ = ["build", "MODELS", "analog_layer_names", "crossbar_layers", "device_of", "load_local_weights"]
