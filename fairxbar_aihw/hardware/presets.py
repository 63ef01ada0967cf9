"""Device presets: a technology as a validated set of keys (``device_presets/*.yaml``).

A preset is flat so that any key can be overridden from a study or the Python API
(``load_preset("paper-variation", noise_rate=0.2)``). ``intensity_key`` names the knob that a
study's "intensity" sweep sets; ``residual`` scales that knob for untargeted weights
(0 = fully mitigated: untargeted weights are exact).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from ..errors import ConfigError, clipped, listing
from ..paths import presets_dir
from ..yaml_files import load_named, named_yaml_files
from .technologies import TECHNOLOGIES

NOISE_MODELS = tuple(TECHNOLOGIES)
T = TypeVar("T")
DRIFT_COMPENSATIONS = ("none", "global", "per-column")  # aihwkit's classes for them: analog.DRIFT_COMPENSATION

# key: (type, check, default, help)
_num = (int, float)
SCHEMA: dict[str, tuple[Any, Callable[[Any], bool], Any, str]] = {
    "description": (str, lambda v: True, "", "one-line summary"),
    "noise_model": (str, lambda v: v in NOISE_MODELS, "none", f"one of {', '.join(NOISE_MODELS)}"),
    "intensity_key": (str, lambda v: True, None, "the key an intensity sweep sets"),
    "noise_rate": (_num, lambda v: 0 <= v <= 2, 0.0, "σ'_G of FairXbar eq. 5, a fraction of the tile's w_max (its "
                   "largest weight magnitude; dimensionless), in [0, 2]: weight error sd = "
                   "σ'_G·√(1 + 2^(2(N/M − 1)))·w_max"),
    "bits_per_device": (int, lambda v: 1 <= v <= 16, 2, "N of eq. 5: bits stored per device, 1..16"),
    "devices_per_weight": (int, lambda v: 1 <= v <= 16, 4, "M of eq. 5: devices (bit slices) per weight, 1..16"),
    "weight_bits": (int, lambda v: 1 <= v <= 16, 8, "B: magnitude bits of a stored weight (sign-magnitude, "
                    "2^B − 1 levels of the tile's w_max), 1..16"),
    "saf_rate": (_num, lambda v: 0 <= v <= 1, 0.0, "stuck-at-fault probability p in [0, 1]: per magnitude bit "
                 "(paper-saf), per device of the differential pair (conductance-saf)"),
    "saf_mode": (str, lambda v: v in ("flip", "stuck"), "flip", "flip: each bit flips with probability p (the "
                 "paper); stuck: each cell faulty with rate p, stuck at 0 or 1 equally (flip rate p/2)"),
    "g_max": (_num, lambda v: v > 0, 25.0, "conductance in µS that a tile's largest weight magnitude maps to "
              "(aihwkit's g_max), > 0"),
    "g_min": (_num, lambda v: v >= 0, 0.0, "lowest device conductance in µS (a zero weight's; conductance-saf: "
              "the stuck-low value), ≥ 0"),
    "prog_noise_scale": (_num, lambda v: 0 <= v <= 100, 1.0, "factor (dimensionless) on the programming-noise "
                         "sd aihwkit fitted to measured devices (1 = as measured), in [0, 100]"),
    "read_noise_scale": (_num, lambda v: 0 <= v <= 100, 1.0, "factor on the fitted read (1/f) and accumulated "
                         "noise sd (1 = as measured), in [0, 100]"),
    "drift_scale": (_num, lambda v: 0 <= v <= 100, 1.0, "factor on the fitted drift (e.g. PCM's exponent "
                    "ν in g(t) = g·((t + 20 s)/20 s)^−ν, t in seconds after programming), in [0, 100]"),
    "residual": (_num, lambda v: 0 <= v <= 1, 0.0, "untargeted weights' error level as a fraction of the "
                 "intensity knob (0: exact, 1: as targeted), [0, 1]"),
    "drift_compensation": (str, lambda v: v in DRIFT_COMPENSATIONS, "none", "none, global or per-column"),
    "tile_rows": (int, lambda v: v >= 0, 512, "max outputs per tile (0 = one tile), ≥ 0; a larger layer is "
                  "split over tiles, each mapped to its own largest weight"),
    "tile_cols": (int, lambda v: v >= 0, 512, "max inputs per tile (0 = one tile), ≥ 0"),
    "forward": (dict, lambda v: True, None, "aihwkit IOParameters fields; {is_perfect: true} = ideal MVM"),
}
MODEL_KEYS = {name: set(t.keys) for name, t in TECHNOLOGIES.items()}
# Keys every preset takes (each a typed ``Preset`` attribute); a technology takes its MODEL_KEYS besides,
# and no other's.
COMMON_KEYS = {"description", "noise_model", "intensity_key", "residual", "drift_compensation", "tile_rows",
               "tile_cols", "forward"}
# aihwkit IOParameters fields a preset's ``forward`` may set: key: (type, check, help), checked like SCHEMA.
MANAGEMENT_ENUMS = {"bound_management": "BoundManagementType", "noise_management": "NoiseManagementType"}


def forward_enum(key: str) -> Any:
    """aihwkit's enum for a ``forward`` management key (imported only when a preset sets one)."""
    from aihwkit.simulator.parameters import enums

    return getattr(enums, MANAGEMENT_ENUMS[key])


def _enum_value(key: str) -> Callable[[Any], bool]:
    return lambda v: v in {e.value for e in forward_enum(key)}


_res = "resolution ≥ 0: 1/steps (e.g. 0.0039 = 1/255), a number of steps, or 0 for no quantisation"
FORWARD: dict[str, tuple[Any, Callable[[Any], bool], str]] = {
    "is_perfect": (bool, lambda v: True, "true (ideal MVM) or false"),
    "inp_res": (_num, lambda v: v >= 0, f"DAC {_res}"),
    "out_res": (_num, lambda v: v >= 0, f"ADC {_res}"),
    "out_noise": (_num, lambda v: v >= 0, "sd of Gaussian noise on each tile output, in aihwkit's normalised "
                  "units (inputs scaled to the DAC range, weights to the tile's max), ≥ 0"),
    "w_noise": (_num, lambda v: v >= 0, "sd of output-referred weight noise drawn anew each read, in the same "
                "normalised units, ≥ 0"),
    "inp_bound": (_num, lambda v: v > 0, "DAC input bound > 0: the input range is ± this, in normalised input units"),
    "out_bound": (_num, lambda v: v > 0, "ADC output bound > 0: the output range is ± this, in normalised output units"),
    "ir_drop": (_num, lambda v: v >= 0, "IR-drop scale ≥ 0"),
    "bound_management": (str, _enum_value("bound_management"), "an aihwkit BoundManagementType value, e.g. "
                         "None or Iterative"),
    "noise_management": (str, _enum_value("noise_management"), "an aihwkit NoiseManagementType value, e.g. "
                         "None or AbsMax"),
}
FORWARD_KEYS = set(FORWARD)


class _CommonKey(Generic[T]):
    """A key every preset takes, read as a typed attribute (``preset.tile_rows``) from its ``values``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def __get__(self, preset: "Preset", owner: type | None = None) -> T:
        return preset.values[self.key]


@dataclass(frozen=True)
class Preset:
    """A resolved, validated preset: ``values`` holds every key; the keys every preset takes
    (``COMMON_KEYS``) read as typed attributes too, a technology's own keys through ``values``."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)

    description = _CommonKey[str]()
    noise_model = _CommonKey[str]()
    intensity_key = _CommonKey[str | None]()
    residual = _CommonKey[float]()
    drift_compensation = _CommonKey[str]()
    tile_rows = _CommonKey[int]()
    tile_cols = _CommonKey[int]()
    forward = _CommonKey[dict[str, Any]]()

    @property
    def intensity(self) -> float | None:
        key = self.values.get("intensity_key")
        return None if key is None else float(self.values[key])

    @property
    def ideal_forward(self) -> bool:
        fwd = self.values.get("forward") or {}
        return bool(fwd.get("is_perfect", False)) and len(fwd) == 1

    def with_intensity(self, value: float) -> "Preset":
        key = self.values.get("intensity_key")
        if key is None:
            raise ConfigError(f"preset '{self.name}' has no intensity knob (noise_model none)")
        return validate(self.name, {**self.values, key: value})

    def applicable(self) -> dict[str, Any]:
        """The keys this preset's technology uses (what ``presets show`` prints)."""
        return {k: v for k, v in self.values.items() if k != "description" and v is not None}

    def summary(self) -> str:
        key = self.values.get("intensity_key")
        knob = f", {key}={self.values[key]}" if key else ""
        fwd = "ideal MVM" if self.ideal_forward else "non-ideal MVM"
        return f"{self.values['noise_model']}{knob}, residual={self.values['residual']}, {fwd}"


assert all(isinstance(Preset.__dict__.get(k), _CommonKey) for k in COMMON_KEYS), "a common key lacks its attribute"


def validate(name: str, raw: dict[str, Any]) -> Preset:
    """Check every key, type and range against the preset's technology; fill defaults.

    A preset holds the common keys and its technology's own (``noise_rate`` on a PCM preset is
    an error, not silently ignored). Errors name the key and the fix.
    """
    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise ConfigError(f"preset '{name}': unknown key(s) {listing(unknown)}; "
                          f"allowed: {', '.join(SCHEMA)}")
    model = raw.get("noise_model", "none")
    if model not in MODEL_KEYS:
        raise ConfigError(f"preset '{name}': noise_model={model!r} is unknown; expected {SCHEMA['noise_model'][3]}")
    own = COMMON_KEYS | MODEL_KEYS[model]
    foreign = sorted(set(raw) - own)
    if foreign:
        raise ConfigError(f"preset '{name}': {listing(foreign)} do(es) not apply to noise_model {model}; its own "
                          f"keys are {', '.join(sorted(MODEL_KEYS[model])) or 'none'}")
    values: dict[str, Any] = {}
    for key, (typ, check, default, help_) in SCHEMA.items():
        if key not in own:
            continue
        val = raw.get(key, default)
        if val is None:
            values[key] = None
            continue
        values[key] = _checked(name, key, val, typ, check, help_)
    model = values["noise_model"]
    if values["intensity_key"] is None:
        values["intensity_key"] = TECHNOLOGIES[model].intensity_key
    if values["intensity_key"] is not None and values["intensity_key"] not in MODEL_KEYS[model]:
        raise ConfigError(f"preset '{name}': intensity_key '{values['intensity_key']}' is not a parameter of "
                          f"noise_model {model} ({', '.join(sorted(MODEL_KEYS[model])) or 'none'})")
    if values["forward"] is None:
        values["forward"] = {"is_perfect": True}
    bad_fwd = sorted(set(values["forward"]) - FORWARD_KEYS)
    if bad_fwd:
        raise ConfigError(f"preset '{name}': unknown forward key(s) {listing(bad_fwd)}; "
                          f"allowed: {', '.join(sorted(FORWARD_KEYS))}")
    values["forward"] = {k: _checked(name, f"forward.{k}", v, *FORWARD[k]) for k, v in values["forward"].items()}
    if "g_min" in values and values["g_min"] >= values["g_max"]:
        raise ConfigError(f"preset '{name}': g_min must be below g_max")
    return Preset(name=name, values=values)


def _checked(name: str, key: str, val: Any, typ: Any, check: Callable[[Any], bool], help_: str) -> Any:
    """``val`` of preset key ``key`` if its type and range are right (a whole float counts as an int);
    true/false is not a number, and neither is NaN or infinity."""
    if typ is int and isinstance(val, float) and val.is_integer():
        val = int(val)
    if (isinstance(val, bool) and typ is not bool) or not isinstance(val, typ):
        raise ConfigError(f"preset '{name}': {key}={clipped(repr(val))} has the wrong type; expected {help_}")
    if (isinstance(val, float) and not math.isfinite(val)) or not check(val):
        raise ConfigError(f"preset '{name}': {key}={val!r} is out of range; expected {help_}")
    return val


def supported_drift_times(preset: Preset) -> list[float] | None:
    """Inference times a technology model can evaluate (None = any): tabulated models such as
    aihwkit's Wan-2022 ReRAM know fixed times only (aihwkit is imported only for those)."""
    times = TECHNOLOGIES[preset.values["noise_model"]].drift_times
    return None if times is None else times(preset.values)


def available() -> list[str]:
    return named_yaml_files(presets_dir())


def load_preset(name: str | Path, **overrides: Any) -> Preset:
    """A preset by name (``device_presets/NAME.yaml``) or path, with validated keyword overrides."""
    path, raw = load_named(name, presets_dir(), "preset")
    return validate(path.stem, {**raw, **overrides})
