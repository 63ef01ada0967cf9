"""fairxbar-aihw: group fairness of DNNs on non-ideal analog in-memory-computing hardware.

Reproduces and extends FairXbar on IBM aihwkit. Public API (see docs/user-guide.md, "Python API"):
``fx.data.load``, ``fx.models.build``, ``fx.hardware.load_preset / to_analog / program / drift /
effective_weights``, ``fx.saliency.curvature / masks``, ``fx.metrics.compute``.
Submodules load on first use, so the command line starts without importing torch.
"""
from .lazy import lazy_exports

__version__ = "0.1.0"
__all__ = ["data", "models", "hardware", "saliency", "metrics", "__version__"]
__getattr__, __dir__ = lazy_exports(__name__, {m: f".{m}" for m in __all__ if m != "__version__"})
