"""Device technologies: each one's preset keys, intensity knob, drift, and aihwkit noise model.

A new technology is one entry here (its noise model built from a preset's values) plus its
test; a key no technology had before also needs its type and range in ``presets.SCHEMA``. Presets,
studies and ``presets show`` pick it up from here; the config reference lists it once regenerated
(``python -m fairxbar_aihw.config_reference > docs/config-reference.md``).
Builders import aihwkit only when called, so listing and validating presets stays light.

Units (docs/config-reference.md lists every key): FairXbar's models (Mugdho et al., §II-C) work in
fractions of a tile's largest weight magnitude w_max (``noise_rate``) or per bit (``saf_rate``);
aihwkit's models map that w_max to ``g_max`` in µS and take ``prog_noise_scale``,
``read_noise_scale`` and ``drift_scale`` as dimensionless factors on their fits to measured devices:
``pcm`` is PCMLikeNoiseModel (Nandakumar et al., IEEE ICECS 2019: programming-noise sd a quadratic in
g/g_max fitted in µS at g_max = 25 µS, drift g·((t + 20 s)/20 s)^−ν, 1/f read noise), ``reram-wan2022``
ReRamWan2022NoiseModel (Wan et al., Nature 2022: fits tabulated at fixed times in seconds after
programming, ``drift_times``), ``reram-cmo`` ReRamCMONoiseModel (CMO/HfOx devices, ``g_min``..``g_max`` in
µS). Drift times are seconds after programming.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Technology:
    """What a preset's ``noise_model`` names."""

    name: str
    keys: frozenset[str]  # the preset keys of this technology (besides the common ones)
    intensity_key: str | None  # what a study's intensity sweep sets
    drifts: bool  # conductances change after programming
    build: Callable[[dict[str, Any]], Any]  # preset values -> aihwkit BaseNoiseModel, or None for exact weights
    drift_times: Callable[[dict[str, Any]], list[float]] | None = None  # tabulated models: the times they know
    doc: str = ""
    permanent: bool = False  # its errors are faults a chip keeps (retraining uses one fixed chip by default)


def _none(v: dict[str, Any]) -> Any:
    return None


def _paper_variation(v: dict[str, Any]) -> Any:
    from .noise import PaperVariationNoiseModel

    if v["noise_rate"] == 0:
        return None
    return PaperVariationNoiseModel(v["noise_rate"], v["bits_per_device"], v["devices_per_weight"])


def _paper_saf(v: dict[str, Any]) -> Any:
    from .noise import PaperSAFNoiseModel

    return None if v["saf_rate"] == 0 else PaperSAFNoiseModel(v["saf_rate"], v["weight_bits"], v["saf_mode"])


def _conductance_saf(v: dict[str, Any]) -> Any:
    from .noise import ConductanceSAFNoiseModel

    return None if v["saf_rate"] == 0 else ConductanceSAFNoiseModel(v["saf_rate"], v["g_max"], v["g_min"])


def _pcm(v: dict[str, Any]) -> Any:
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel

    return PCMLikeNoiseModel(g_max=v["g_max"], prog_noise_scale=v["prog_noise_scale"],
                             read_noise_scale=v["read_noise_scale"], drift_scale=v["drift_scale"])


def _reram_wan2022(v: dict[str, Any]) -> Any:
    from aihwkit.inference.noise.reram import ReRamWan2022NoiseModel

    return ReRamWan2022NoiseModel(g_max=v["g_max"], noise_scale=v["prog_noise_scale"])


def _reram_wan2022_times(v: dict[str, Any]) -> list[float]:
    return sorted(float(t) for t in _reram_wan2022(v).coeff_dic)


def _reram_cmo(v: dict[str, Any]) -> Any:
    from aihwkit.inference.noise.reram import ReRamCMONoiseModel

    return ReRamCMONoiseModel(g_max=v["g_max"], g_min=v["g_min"], prog_noise_scale=v["prog_noise_scale"],
                              read_noise_scale=v["read_noise_scale"], drift_scale=v["drift_scale"])


TECHNOLOGIES = {t.name: t for t in (
    Technology("none", frozenset(), None, False, _none, doc="exact weights"),
    Technology("paper-variation", frozenset({"noise_rate", "bits_per_device", "devices_per_weight"}), "noise_rate",
               False, _paper_variation, doc="FairXbar eq. 4-5 Gaussian variation"),
    Technology("paper-saf", frozenset({"saf_rate", "weight_bits", "saf_mode"}), "saf_rate", False, _paper_saf,
               doc="FairXbar bit-level stuck-at faults: each magnitude bit flips with probability saf_rate",
               permanent=True),
    Technology("conductance-saf", frozenset({"saf_rate", "g_max", "g_min"}), "saf_rate", False, _conductance_saf,
               doc="a device of the differential pair stuck at g_min or g_max", permanent=True),
    Technology("pcm", frozenset({"g_max", "prog_noise_scale", "read_noise_scale", "drift_scale"}),
               "prog_noise_scale", True, _pcm, doc="aihwkit PCMLikeNoiseModel"),
    Technology("reram-wan2022", frozenset({"g_max", "prog_noise_scale"}), "prog_noise_scale", True, _reram_wan2022,
               _reram_wan2022_times, doc="aihwkit ReRamWan2022NoiseModel (tabulated times)"),
    Technology("reram-cmo", frozenset({"g_max", "g_min", "prog_noise_scale", "read_noise_scale", "drift_scale"}),
               "prog_noise_scale", True, _reram_cmo, doc="aihwkit ReRamCMONoiseModel"),
)}
