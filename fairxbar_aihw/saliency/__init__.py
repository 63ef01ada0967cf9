"""Per-group curvature, saliency ranks and weight masks (public: curvature, masks)."""
from .batches import group_batches
from .curvature import ESTIMATORS, CurvatureFallback, curvature, weight_param_names
from .masks import METHODS, layer_fractions, masks, masks_from_saliency, rank_pairs, saliencies

__all__ = ["curvature", "masks", "saliencies", "masks_from_saliency", "layer_fractions", "rank_pairs",
           "weight_param_names", "group_batches", "ESTIMATORS", "METHODS", "CurvatureFallback"]
