"""Datasets (public: ``fx.data.load``): synthderm (embedded, synthetic), Fitzpatrick-17k, ISIC-2019,
your own images (csv, folder); skin tone from pixels (``fx.data.ita``).

The registry of names is light (``catalog.py``); loaders and their libraries load on first use.
"""
from ..lazy import lazy_exports
from .catalog import DATASET_NAMES, DATASETS

__all__ = ["load", "check", "ita", "Splits", "TensorSplit", "DATASETS"]  # the stable API; helpers stay importable
__getattr__, __dir__ = lazy_exports(__name__, {
    **{n: ".loading" for n in ("load", "check", "check_size", "empty_cells", "resolve_root", "dataset_info")},
    **{n: ".splits" for n in ("Splits", "TensorSplit", "balance_groups", "make_splits", "stratified_split",
                              "to_float")},
    **{n: ".skin_tone" for n in ("ita", "srgb_to_lab", "ita_category", "ITA_CATEGORIES")},
    "loading": ".loading", "splits": ".splits", "real": ".real", "synthderm": ".synthderm",
    "skin_tone": ".skin_tone"})
