"""Study files (``studies/*.yaml``): load, apply ``quick`` and overrides, validate into a StudyConfig.

Command-line choices (``--quick``, ``--preset``, ``--seeds``, ``--trials``, ``--device``) are a
typed ``StudyOverrides`` applied to the raw file *before* validation, so every check (the drift
presets' supported times included) sees the configuration that will run.

A study = dataset + model + training recipe + saliency settings + a sweep
(methods × hardware presets × intensities × targets) + Monte-Carlo trials (+ drift times,
mitigation arms, pruning). The fields and their ranges are in ``schema.py``; the checks here
span sections or read other files (presets).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError, clipped, listing
from ..hardware.presets import load_preset, supported_drift_times
from ..models.architectures import MIN_IMAGE_SIZE
from ..paths import BUNDLED_STUDIES, studies_dir
from ..yaml_files import load_named, named_yaml_files
from .schema import TABLE_OPTIONS, StudyConfig

__all__ = ["load_study", "available", "validate", "StudyConfig", "StudyOverrides", "DRIFT_DEFAULT_TIMES"]

DRIFT_DEFAULT_TIMES = [1.0, 3600.0, 86400.0, 2592000.0, 31536000.0, 315360000.0]
MAX_DRIFT_SECONDS = 100 * 31536000.0  # 100 years: beyond any chip's life and any drift model's fit
LOADER_KEYS = ("name", "quick_mode")  # set by the loader, never by a study file

_TYPE_WORDS = {
    "int_parsing": "must be an integer", "int_type": "must be an integer", "int_from_float": "must be an integer",
    "float_parsing": "must be a number", "float_type": "must be a number", "string_type": "must be text",
    "bool_parsing": "must be true or false", "bool_type": "must be true or false", "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values", "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base`` section by section (``params`` and lists are replaced whole)."""
    out = copy.deepcopy(base)
    for key, val in over.items():
        if isinstance(out.get(key), dict) and isinstance(val, dict) and key != "params":
            out[key] = _merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def _message(exc: ValidationError, where: str) -> str:
    """The first validation problem as one line naming the dotted key and the fix."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = err["loc"][:-1]
        model: Any = StudyConfig
        for part in parent:
            field = model.model_fields.get(str(part))
            model = field.annotation if field is not None else None
            if model is None or not hasattr(model, "model_fields"):
                break
        allowed = ", ".join(k for k in getattr(model, "model_fields", {}) if k not in LOADER_KEYS)
        return f"{where}: unknown key '{loc}'" + (f"; allowed: {allowed}" if allowed else "")
    given = f"={clipped(repr(err['input']))}" if "input" in err and not isinstance(err["input"], dict) else ""
    if kind in _TYPE_WORDS:
        return f"{where}: {loc}{given} {_TYPE_WORDS[kind]}"
    bounds = {"greater_than_equal": "≥ {ge}", "greater_than": "> {gt}", "less_than_equal": "≤ {le}",
              "less_than": "< {lt}"}
    if kind in bounds:
        return f"{where}: {loc}{given} must be " + bounds[kind].format(**ctx)
    if kind in ("too_short", "too_long"):
        bound = f"at least {ctx.get('min_length')}" if kind == "too_short" else f"at most {ctx.get('max_length')}"
        return f"{where}: {loc} must list {bound} value(s), got {ctx.get('actual_length')}"
    if kind == "literal_error":
        return f"{where}: {loc}{given} is unknown; choose one of {ctx.get('expected')}"
    return f"{where}: {loc}{given}: {err['msg'].removeprefix('Value error, ')}"


def parse(raw: dict[str, Any], name: str) -> StudyConfig:
    """A StudyConfig from a raw mapping; the first problem becomes a one-line ConfigError."""
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_message(exc, f"study '{name}'")) from None


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def check_model(model: Any, size: int, w: str) -> None:
    """A built-in architecture, or one of the three ways to bring a trained model."""
    sources = [k for k in ("file", "weights", "entry") if getattr(model, k)]
    _need(len(sources) <= 1, f"{w}: give one of model.file, model.weights or model.entry, not "
          f"{' and '.join(sources)}")
    if model.name in MIN_IMAGE_SIZE:
        _need(size >= MIN_IMAGE_SIZE[model.name], f"{w}: model {model.name} needs dataset.size ≥ "
              f"{MIN_IMAGE_SIZE[model.name]} pixels, got {size}")
        return
    _need(bool(sources), f"{w}: model.name='{model.name}' is unknown; choose one of {', '.join(MIN_IMAGE_SIZE)}, "
          "or bring a trained model with model.weights (a torchvision model's state dict), model.file (ONNX) "
          "or model.entry")
    if sources == ["weights"]:
        from ..models.user import torchvision_names

        _need(model.name in torchvision_names(), f"{w}: model.name='{model.name}' is neither a built-in "
              f"architecture ({', '.join(MIN_IMAGE_SIZE)}) nor a torchvision classification model")


def check_dataset(ds: Any, w: str) -> None:
    """Table options belong to your own datasets (csv, folder), which need a privileged value unless
    their groups come from the pixels (``group_from: ita``, any dataset)."""
    set_options = [k for k in TABLE_OPTIONS if getattr(ds, k) is not None]
    _need(ds.ita_threshold is None or ds.group_from == "ita", f"{w}: dataset.ita_threshold needs "
          "dataset.group_from: ita")
    _need(ds.ita_bands is None or (ds.group_from == "ita" and ds.groups == "all"), f"{w}: dataset.ita_bands needs "
          "dataset.group_from: ita and dataset.groups: all")
    _need(ds.min_group_size is None or ds.groups == "all", f"{w}: dataset.min_group_size applies with "
          "dataset.groups: all")
    if ds.group_from == "ita":  # light skin (high ITA) is group 1; there is no group column to read
        given = [k for k in ("groups_file", "group_column", "privileged") if getattr(ds, k) is not None]
        _need(not given, f"{w}: dataset.{given[0] if given else ''} does not apply with group_from: ita (the groups "
              "come from the pixels: light = group 1)")
    if ds.name in ("csv", "folder"):
        _need(ds.privileged is not None or ds.group_from == "ita", f"{w}: dataset {ds.name} needs "
              "dataset.privileged: the group value treated as privileged (group 1), or group_from: ita for groups "
              "from skin tone")
        wrong = [k for k in set_options if k in (("groups_file",) if ds.name == "csv" else ("file", "label_column"))]
        _need(not wrong, f"{w}: dataset.{wrong[0] if wrong else ''} does not apply to dataset {ds.name}")
    else:
        _need(not set_options, f"{w}: dataset.{set_options[0] if set_options else ''} applies only to the csv "
              f"and folder datasets, not {ds.name}")


def check_consistency(cfg: StudyConfig) -> StudyConfig:
    """Checks across sections and against other files (presets, drift times); returns ``cfg``."""
    w = f"study '{cfg.name}'"
    ds, sw, dr, rt, pr = cfg.dataset, cfg.sweep, cfg.drift, cfg.retrain, cfg.prune
    check_model(cfg.model, ds.size, w)
    check_dataset(ds, w)
    for t in sw.targets:
        _need(0 < t <= 1, f"{w}: sweep.targets must be fractions in (0, 1]; got {t}")
    for hw in sw.hardware:
        preset = load_preset(hw.preset, **(hw.overrides or {}))
        for x in hw.intensities or []:
            preset.with_intensity(x)  # validates the range through the preset schema
    for t in dr.times:
        _need(0 <= t <= MAX_DRIFT_SECONDS, f"{w}: drift.times must be seconds from 0 to {MAX_DRIFT_SECONDS:g} "
              f"(100 years); got {t:g}")
    for p in dr.presets:
        allowed = supported_drift_times(load_preset(p))
        bad = [t for t in dr.times if allowed is not None and t > 0 and float(t) not in allowed]
        _need(not bad, f"{w}: drift preset '{p}' only supports times {listing(allowed or [])} s; drift.times has "
              f"{listing(bad)}")
    if rt.preset:
        load_preset(rt.preset)
    sweep_presets = {hw.preset for hw in sw.hardware}
    for name in rt.presets or []:
        _need(name in sweep_presets, f"{w}: retrain.presets entry '{name}' is not in sweep.hardware")
    for sp in pr.sparsities:
        _need(0 <= sp < 1, f"{w}: prune.sparsities must be in [0, 1); got {sp}")
    return cfg


def validate(raw: dict[str, Any], name: str) -> StudyConfig:
    """Parse and check a raw study mapping (what a study file holds) into a StudyConfig."""
    bad = [k for k in LOADER_KEYS if k in raw]
    _need(not bad, f"study '{name}': key(s) {', '.join(bad)} are set from the file name and --quick, not in the file")
    if "seed" in raw:  # a single-seed study file (the older form): seed N means seeds [N]
        _need(raw.get("seeds") is None, f"study '{name}': give seeds: [..] or seed: N, not both")
        raw = {**raw, "seeds": [raw["seed"]]}
    cfg = parse(raw, name)
    cfg.seed = cfg.seeds[0]
    cfg.name = name
    return check_consistency(cfg)


def available() -> list[str]:
    return named_yaml_files(studies_dir())


@dataclass(frozen=True)
class StudyOverrides:
    """What the command line changes in a study file; ``apply`` edits the raw mapping, so the
    result is validated like the file's own values."""

    quick: bool = False  # the file's ``quick`` section merged in first
    preset: str | None = None  # the sweep (and the arms, and the drift section if it has presets) on this preset
    seeds: tuple[int, ...] | None = None  # replaces the file's seeds, in either form
    trials: int | None = None  # sweep.trials
    device: str | None = None

    def apply(self, raw: dict[str, Any], stem: str) -> dict[str, Any]:
        """``raw`` (a study file's mapping) with these overrides; the file's mapping is left alone."""
        if self.quick:
            q = raw.get("quick") or {}
            _need(isinstance(q, dict), f"study '{stem}': quick must be a mapping of keys to values")
            raw = _merge(raw, q)
        else:
            raw = copy.deepcopy(raw)
        if self.trials is not None:
            _section(raw, "sweep", stem)["trials"] = self.trials
        if self.device:
            raw["device"] = self.device
        if self.seeds is not None:
            raw.pop("seed", None)
            raw["seeds"] = list(self.seeds)
        if self.preset:
            _section(raw, "sweep", stem)["hardware"] = [{"preset": self.preset, "intensities": None}]
            retrain = _section(raw, "retrain", stem)
            retrain["presets"] = None  # the arms run on the swapped technology too
            retrain["preset"] = None
            drift = raw.get("drift")
            if isinstance(drift, dict) and drift.get("presets"):
                drift["presets"] = [self.preset]
        return raw

    def tag(self) -> str:
        """The run and report folders' suffix: ``-PRESET`` (its validated name, never a raw path)
        and ``-quick``."""
        preset = f"-{load_preset(self.preset).name}" if self.preset else ""
        return preset + ("-quick" if self.quick else "")


def _section(raw: dict[str, Any], key: str, stem: str) -> dict[str, Any]:
    """``raw[key]`` as a mapping to set keys in (created if absent)."""
    node = raw.setdefault(key, {})
    _need(isinstance(node, dict), f"study '{stem}': {key} must be a mapping of keys to values")
    return node


def load_study(name: str | Path, overrides: StudyOverrides | None = None) -> StudyConfig:
    """A resolved study by name or path, with the command line's ``overrides`` applied to the file
    before it is validated."""
    overrides = overrides or StudyOverrides()
    path, raw = load_named(name, studies_dir(), "study")
    stem = path.stem
    cfg = validate(overrides.apply(raw, stem), stem)
    cfg.quick_mode = overrides.quick
    cfg._owner = ("study", study_source(path))
    return cfg


def study_source(path: Path) -> str:
    """A study file's identity, which its run and report folders record: ``bundled:NAME`` for a
    bundled study (the same after reinstalling), else the file's resolved absolute path."""
    resolved = path.resolve()
    return f"bundled:{path.stem}" if resolved.parent == BUNDLED_STUDIES.resolve() else str(resolved)
