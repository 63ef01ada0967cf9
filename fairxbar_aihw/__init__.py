"""fairxbar-aihw: group fairness of DNNs on non-ideal analog in-memory-computing hardware.

Reproduces and extends FairXbar on IBM aihwkit. Public API (DESIGN "The stable Python API"):
``fx.data.load``, ``fx.models.build``, ``fx.hardware.load_preset / to_analog / program / drift /
effective_weights``, ``fx.saliency.curvature / masks``, ``fx.metrics.compute``.
"""
__version__ = "0.1.0"

from . import data, hardware, metrics, models, saliency  # noqa: E402

__all__ = ["data", "models", "hardware", "saliency", "metrics", "__version__"]
