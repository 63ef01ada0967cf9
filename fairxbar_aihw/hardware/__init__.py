"""Analog hardware layer on aihwkit (public: load_preset, to_analog, program, drift, effective_weights)."""
from .analog import (
    analog_layers,
    drift,
    effective_weights,
    install_overrides,
    load_into_digital,
    make_noise_model,
    program,
    program_chip,
    rpu_config,
    seeded_rng,
    supported_drift_times,
    tile_slices,
    to_analog,
)
from .noise import (
    ConductanceSAFNoiseModel,
    IdealNoiseModel,
    MaskedNoiseModel,
    PaperSAFNoiseModel,
    PaperVariationNoiseModel,
    variation_sigma,
)
from .presets import NOISE_MODELS, Preset, available, load_preset, validate

__all__ = [
    "load_preset", "available", "validate", "Preset", "NOISE_MODELS", "to_analog", "program", "program_chip", "drift",
    "effective_weights", "load_into_digital", "analog_layers", "tile_slices", "install_overrides",
    "make_noise_model", "rpu_config", "seeded_rng", "supported_drift_times", "PaperVariationNoiseModel", "PaperSAFNoiseModel",
    "ConductanceSAFNoiseModel", "MaskedNoiseModel", "IdealNoiseModel", "variation_sigma",
]
