"""Study files (``studies/*.yaml``): load, fill defaults, validate with errors that name the key.

A study = dataset + model + training recipe + saliency settings + a sweep
(methods × hardware presets × intensities × targets) + Monte-Carlo trials (+ drift times).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..hardware.presets import load_preset, supported_drift_times
from ..models.names import MIN_IMAGE_SIZE, MODEL_NAMES
from ..paths import studies_dir
from ..saliency.names import ESTIMATORS, METHODS
from ..yaml_files import load_named, named_yaml_files

RETRAIN_ARMS = ("va", "vfa", "hwa", "fair-loss", "boundary")

DEFAULTS: dict[str, Any] = {
    "description": "",
    "seed": 0,
    "device": "cpu",
    "dataset": {"name": "synthderm", "size": 32, "params": {}, "balance": True, "unprivileged": "auto",
                "root": None},
    "model": {"name": "small-cnn", "pretrained": None, "digital_layers": []},
    "train": {"epochs": 10, "lr": 1e-3, "batch_size": 128, "weight_decay": 0.0, "augment": "flip"},
    "saliency": {"estimator": "hessian-exact", "samples_per_group": 512, "batch_size": 128, "probes": 8,
                 "beta": 1.0},
    "sweep": {"methods": ["uniform", "random", "FR", "F+A R"], "targets": [0.05],
              "hardware": [{"preset": "paper-variation", "intensities": None}], "trials": 30},
    "drift": {"times": [], "presets": [], "methods": None, "target": None, "trials": None},
    "retrain": {"arms": [], "steps": 150, "lr": 5e-4, "batch_size": 128, "refresh_every": 50, "chip": "fresh",
                "preset": None, "intensity": None, "alpha": 0.5, "lam": 0.1, "hwa_noise": 0.05,
                "method": "F+A R", "target": None, "trials": None, "samples_per_group": 256, "presets": None,
                "diagnostic_iters": 30},
    "prune": {"kinds": [], "sparsities": [0.5, 0.7, 0.9], "finetune_steps": 0, "lr": 5e-4, "beta": 1.0},
    "quick": {},
}
SECTIONS = set(DEFAULTS)
# Types of the keys whose default is None (the others take their default's type).
NULLABLE: dict[str, type | tuple[type, ...]] = {
    "dataset.root": str, "model.pretrained": str, "drift.methods": list, "drift.target": float,
    "drift.trials": int, "retrain.preset": str, "retrain.intensity": float, "retrain.target": float,
    "retrain.trials": int, "retrain.presets": list,
}
UNTYPED = {"dataset.unprivileged", "dataset.params", "quick"}  # checked by value in validate()
DRIFT_DEFAULT_TIMES = [1.0, 3600.0, 86400.0, 2592000.0, 31536000.0, 315360000.0]


def _merge(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, val in over.items():
        if key not in base:
            raise ConfigError(f"{where}: unknown key '{key}'; allowed: {', '.join(base)}")
        if isinstance(base[key], dict) and key not in ("params",) and isinstance(val, dict) and base[key]:
            out[key] = _merge(base[key], val, f"{where}.{key}")
        else:
            out[key] = val
    return out


def _typed(value: Any, expected: Any, key: str, where: str) -> Any:
    """``value`` checked against the type of its default; numeric strings like ``1e-3`` (which YAML
    1.1 reads as text) become floats. Errors name the dotted key."""
    if expected is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return value
    names = {int: "an integer", float: "a number", str: "text", bool: "true or false", list: "a list"}
    ok = isinstance(value, expected) and not (expected in (int, float) and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{where}: {key}={value!r} must be {names.get(expected, expected.__name__)}")
    return value


def check_types(cfg: dict[str, Any], defaults: dict[str, Any], where: str, prefix: str = "") -> None:
    """Every value has its default's type (or NULLABLE's); fixes numeric strings in place."""
    for key, default in defaults.items():
        dotted = f"{prefix}{key}"
        value = cfg.get(key)
        if dotted in UNTYPED:
            continue
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {dotted} must be a mapping of keys to values")
            check_types(value, default, where, f"{dotted}.")
            continue
        if value is None and (default is None or dotted in NULLABLE):
            continue
        expected = NULLABLE.get(dotted, type(default))
        cfg[key] = _typed(value, expected, dotted, where)
        if isinstance(default, list) and default and not isinstance(default[0], dict):
            cfg[key] = [_typed(v, type(default[0]), f"{dotted}[{i}]", where) for i, v in enumerate(cfg[key])]


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def validate(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """Range and name checks on a merged config; returns it unchanged if valid."""
    w = f"study '{name}'"
    check_types(cfg, DEFAULTS, w)
    _need(cfg["seed"] >= 0, f"{w}: seed must be an integer ≥ 0, got {cfg['seed']}")
    _need(cfg["device"] in ("cpu", "cuda") or cfg["device"].startswith("cuda:"),
          f"{w}: device must be cpu or cuda, got {cfg['device']!r}")
    ds = cfg["dataset"]
    _need(ds["name"] in ("synthderm", "fitzpatrick17k", "isic2019"),
          f"{w}: dataset.name '{ds['name']}' is unknown; use synthderm, fitzpatrick17k or isic2019")
    _need(isinstance(ds["size"], int) and 8 <= ds["size"] <= 512, f"{w}: dataset.size must be 8..512 pixels")
    _need(ds["unprivileged"] in ("auto", 0, 1), f"{w}: dataset.unprivileged must be auto, 0 or 1")
    _need(isinstance(ds["params"], dict), f"{w}: dataset.params must be a mapping of keys to values")
    model = cfg["model"]["name"]
    _need(model in MODEL_NAMES, f"{w}: model.name '{model}' is unknown; choose one of {', '.join(MODEL_NAMES)}")
    _need(ds["size"] >= MIN_IMAGE_SIZE[model], f"{w}: model {model} needs dataset.size ≥ {MIN_IMAGE_SIZE[model]} "
          f"pixels, got {ds['size']}")
    tr = cfg["train"]
    _need(tr["epochs"] >= 1, f"{w}: train.epochs must be an integer ≥ 1")
    _need(0 < tr["lr"] < 1, f"{w}: train.lr must be in (0, 1)")
    _need(tr["batch_size"] >= 1, f"{w}: train.batch_size must be an integer ≥ 1")
    _need(tr["weight_decay"] >= 0, f"{w}: train.weight_decay must be ≥ 0")
    sal = cfg["saliency"]
    _need(sal["batch_size"] >= 1, f"{w}: saliency.batch_size must be an integer ≥ 1")
    _need(sal["probes"] >= 1, f"{w}: saliency.probes must be an integer ≥ 1")
    _need(sal["estimator"] in ESTIMATORS, f"{w}: saliency.estimator '{sal['estimator']}' is unknown; "
          f"choose one of {', '.join(ESTIMATORS)}")
    _need(sal["samples_per_group"] >= 1, f"{w}: saliency.samples_per_group must be ≥ 1")
    _need(sal["beta"] >= 0, f"{w}: saliency.beta must be ≥ 0")
    sw = cfg["sweep"]
    for m in sw["methods"]:
        _need(m in METHODS, f"{w}: sweep.methods has unknown method '{m}'; choose from {', '.join(METHODS)}")
    for t in sw["targets"]:
        _need(isinstance(t, (int, float)) and 0 < t <= 1, f"{w}: sweep.targets must be fractions in (0, 1]; got {t}")
    _need(isinstance(sw["trials"], int) and 1 <= sw["trials"] <= 100000, f"{w}: sweep.trials must be 1..100000")
    _need(isinstance(sw["hardware"], list) and sw["hardware"], f"{w}: sweep.hardware must list at least one preset")
    for hw in sw["hardware"]:
        _need(isinstance(hw, dict) and "preset" in hw, f"{w}: each sweep.hardware entry needs a 'preset'")
        extra = set(hw) - {"preset", "intensities", "overrides"}
        _need(not extra, f"{w}: sweep.hardware entry has unknown key(s) {', '.join(sorted(extra))}")
        preset = load_preset(hw["preset"], **(hw.get("overrides") or {}))
        for x in hw.get("intensities") or []:
            preset.with_intensity(x)  # validates the range through the preset schema
    dr = cfg["drift"]
    for t in dr["times"]:
        _need(isinstance(t, (int, float)) and t >= 0, f"{w}: drift.times must be seconds ≥ 0; got {t}")
    for p in dr["presets"]:
        allowed = supported_drift_times(load_preset(p))
        bad = [t for t in dr["times"] if allowed is not None and t > 0 and float(t) not in allowed]
        _need(not bad, f"{w}: drift preset '{p}' only supports times {allowed} s; drift.times has {bad}")
    rt = cfg["retrain"]
    for arm in rt["arms"]:
        _need(arm in RETRAIN_ARMS, f"{w}: retrain.arms has unknown arm '{arm}'; choose from {', '.join(RETRAIN_ARMS)}")
    _need(rt["method"] in METHODS, f"{w}: retrain.method '{rt['method']}' is unknown")
    _need(rt["steps"] >= 1, f"{w}: retrain.steps must be an integer ≥ 1")
    _need(0 < rt["lr"] < 1, f"{w}: retrain.lr must be in (0, 1)")
    _need(rt["batch_size"] >= 1 and rt["samples_per_group"] >= 1 and rt["refresh_every"] >= 1,
          f"{w}: retrain.batch_size, samples_per_group and refresh_every must be integers ≥ 1")
    _need(rt["lam"] >= 0 and rt["hwa_noise"] >= 0, f"{w}: retrain.lam and retrain.hwa_noise must be ≥ 0")
    _need(rt["trials"] is None or rt["trials"] >= 1, f"{w}: retrain.trials must be ≥ 1")
    _need(dr["trials"] is None or dr["trials"] >= 1, f"{w}: drift.trials must be ≥ 1")
    _need(0 <= rt["alpha"] <= 1, f"{w}: retrain.alpha must be in [0, 1]")
    _need(isinstance(rt["diagnostic_iters"], int) and rt["diagnostic_iters"] >= 0,
          f"{w}: retrain.diagnostic_iters must be an integer ≥ 0 (0 skips the per-group diagnostics)")
    _need(rt["chip"] in ("fresh", "fixed"), f"{w}: retrain.chip must be fresh or fixed")
    if rt["preset"]:
        load_preset(rt["preset"])
    sweep_presets = {hw["preset"] for hw in sw["hardware"]}
    for name in rt["presets"] or []:
        _need(name in sweep_presets, f"{w}: retrain.presets entry '{name}' is not in sweep.hardware")
    pr = cfg["prune"]
    for kind in pr["kinds"]:
        _need(kind in ("magnitude", "fairprune"), f"{w}: prune.kinds has unknown kind '{kind}'; use magnitude or fairprune")
    _need(pr["finetune_steps"] >= 0 and 0 < pr["lr"] < 1 and pr["beta"] >= 0,
          f"{w}: prune.finetune_steps must be ≥ 0, prune.lr in (0, 1) and prune.beta ≥ 0")
    for sp in pr["sparsities"]:
        _need(isinstance(sp, (int, float)) and 0 <= sp < 1, f"{w}: prune.sparsities must be in [0, 1); got {sp}")
    return cfg


def available() -> list[str]:
    return named_yaml_files(studies_dir())


def load_study(name: str | Path, quick: bool = False, **overrides: Any) -> dict[str, Any]:
    """A resolved study config by name or path. ``quick`` applies the study's ``quick`` overrides."""
    path, raw = load_named(name, studies_dir(), "study")
    cfg = _merge(DEFAULTS, raw, f"study '{path.stem}'")
    if quick and cfg["quick"]:
        q = {k: v for k, v in cfg["quick"].items()}
        cfg = _merge(cfg, q, f"study '{path.stem}'.quick")
    for key, val in overrides.items():  # dotted overrides, e.g. sweep.trials=5
        node = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"unknown study key '{key}'")
        node[parts[-1]] = val
    cfg["name"] = path.stem
    cfg["quick_mode"] = bool(quick)
    return validate(cfg, path.stem)
