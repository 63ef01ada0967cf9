"""Per-group curvature, saliency ranks and weight masks (public: curvature, masks)."""
from ..lazy import lazy_exports
from .methods import ESTIMATORS, METHODS

_ESTIMATORS = ["CurvatureFallback", "curvature", "weight_param_names"]
_TARGETING = ["layer_fractions", "masks", "masks_from_saliency", "rank_pairs", "saliencies"]
__all__ = ["curvature", "masks", "ESTIMATORS", "METHODS"]  # the stable API; helpers stay importable
__getattr__, __dir__ = lazy_exports(__name__, {**{n: ".estimators" for n in _ESTIMATORS}, **{n: ".targeting" for n in _TARGETING},
                                               "group_batches": ".batches", "batches": ".batches"})
