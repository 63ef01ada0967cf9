"""Analog hardware layer on aihwkit (public: load_preset, to_analog, program, drift, effective_weights).

Presets load without aihwkit; everything else imports it on first use.
"""
from ..lazy import lazy_exports
from .presets import NOISE_MODELS, Preset, available, load_preset, supported_drift_times, validate

_ANALOG = ["analog_layers", "drift", "effective_weights", "install_overrides", "load_into_digital",
           "make_noise_model", "program", "program_chip", "rpu_config", "tile_slices", "to_analog"]
_NOISE = ["ConductanceSAFNoiseModel", "IdealNoiseModel", "MaskedNoiseModel", "PaperSAFNoiseModel",
          "PaperVariationNoiseModel", "variation_sigma"]
__all__ = ["load_preset", "available", "Preset", "to_analog", "program", "drift", "effective_weights",
           "supported_drift_times"]  # the stable API; helpers stay importable
__getattr__, __dir__ = lazy_exports(__name__, {**{n: ".analog" for n in _ANALOG}, **{n: ".noise" for n in _NOISE},
                                               "seeded_rng": ".analog", "analog": ".analog", "noise": ".noise"})
