"""What a study asks for: its cells and every row key format, derived from the config alone.

Why one module: a row key names what a stored row means (which stage, preset, intensity,
method, target, and a hash of what else it depends on); resuming, extending and reporting all
depend on building the same key the same way, so every key is built here and nowhere else
(its text written and read back by ``keys.RowKey``).
Nothing here trains or loads a model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..hardware.presets import Preset, load_preset
from ..hardware.technologies import TECHNOLOGIES
from ..retrain.config import ArmSettings
from ..retrain.arm_registry import ARM_LABELS
from ..saliency.methods import MethodLabel, canonical
from ..store import config_hash
from .keys import BASELINE_KEY, RowKey, RowKind
from .schema import StudyConfig


@dataclass(frozen=True)
class Cell:
    """One sweep cell: a hardware setting, a targeting method and a target fraction."""

    kind: RowKind  # sweep, drift or retrain (layer: the audit's)
    preset: str
    intensity: float | None
    method: str
    target: float | None
    tag: str = ""  # hash of what else the rows depend on (resolved preset, retraining config)

    def row_key(self, t: float | None = None) -> RowKey:
        """The typed key of this cell's rows (drift rows carry their time)."""
        return RowKey(RowKind(self.kind), (self.preset, str(self.intensity), self.method, str(self.target)),
                      self.tag, t)

    def key(self) -> str:
        return self.row_key().text()


def cell_key(cell: Cell, t: float | None = None) -> str:
    """Store key of a cell's rows (drift rows carry their time)."""
    return cell.row_key(t).text()


# Bumped whenever a method label's meaning changes, so rows computed under an old meaning are never
# reused for a new one (2: F+A R's default reading became "exclude"; FR-matched added).
TARGETING_VERSION = 2


def preset_tag(preset: Preset) -> str:
    """Part of every chip row's key: the resolved preset and the targeting semantics it ran under."""
    return config_hash({"preset": preset.values, "targeting": TARGETING_VERSION})[:8]


def cell_intensity(x: float | None) -> float:
    """A cell's intensity: 0 for presets without an intensity knob (e.g. ``ideal``)."""
    return 0.0 if x is None else float(x)


class StudyPlan:
    """The cells and row keys of one resolved study."""

    def __init__(self, cfg: StudyConfig):
        self.cfg = cfg
        self._hardware: list[tuple[Preset, list[float | None]]] | None = None

    def hardware(self) -> list[tuple[Preset, list[float | None]]]:
        """Each sweep preset (with its overrides) and the intensities to run it at; read once per
        plan (a report asks for it ~600 times, each a YAML file parsed and validated)."""
        if self._hardware is None:
            self._hardware = []
            for hw in self.cfg.sweep.hardware:
                preset = load_preset(hw.preset, **(hw.overrides or {}))
                self._hardware.append((preset, list(hw.intensities or [preset.intensity])))
        return [(preset, list(levels)) for preset, levels in self._hardware]

    def label(self, method: str) -> str:
        """A method's canonical label: its F+A R rule named unless it is the default reading."""
        return canonical(method, self.cfg.saliency.fa_rule)

    def fa_labels(self) -> list[str]:
        """The F+A R readings the sweep runs (at least the study's own)."""
        labels = [self.label(m) for m in self.cfg.sweep.methods if MethodLabel.split(m).is_fa]
        return list(dict.fromkeys(labels)) or [self.label("F+A R")]

    def sweep_cells(self) -> list[tuple[Cell, Preset]]:
        cells = []
        sw = self.cfg.sweep
        for preset, intensities in self.hardware():
            for x in intensities:
                p = preset if x is None else preset.with_intensity(x)
                for method in map(self.label, sw.methods):
                    if method == "none":
                        continue
                    for target in sw.targets if MethodLabel.split(method).targeted else [None]:
                        cell = Cell(RowKind.SWEEP, preset.name, cell_intensity(x), method, target, preset_tag(p))
                        cells.append((cell, p))
        return cells

    def drift_cells(self) -> list[tuple[Cell, Preset]]:
        dr = self.cfg.drift
        methods = dr.methods or self.cfg.sweep.methods
        target = dr.target or self.cfg.sweep.targets[0]
        cells = []
        for name in dr.presets:
            preset = load_preset(name)
            for method in map(self.label, methods):
                if method != "none":
                    t = target if MethodLabel.split(method).targeted else None
                    cell = Cell(RowKind.DRIFT, preset.name, cell_intensity(preset.intensity), method, t,
                                preset_tag(preset))
                    cells.append((cell, preset))
        return cells

    def arm_settings(self) -> ArmSettings:
        """The retraining settings every arm's model depends on: the study's sections, resolved."""
        rt = self.cfg.retrain
        return ArmSettings(retrain=rt, saliency=self.cfg.saliency, method=self.label(rt.method),
                           target=rt.target or max(self.cfg.sweep.targets), chip=self.retrain_chip(),
                           digital_layers=self.cfg.model.digital_layers)

    def retrain_chip(self) -> Literal["fresh", "fixed"]:
        """``chip: auto`` resolved: one fixed chip for permanent faults (SAF), a fresh chip per step otherwise."""
        chip = self.cfg.retrain.chip
        if chip != "auto":
            return chip
        return "fixed" if TECHNOLOGIES[self.retrain_preset().values["noise_model"]].permanent else "fresh"

    def retrain_preset(self) -> Preset:
        """The technology whose errors VA/VFA emulate: retrain.preset, else the first sweep hardware."""
        rt = self.cfg.retrain
        if rt.preset:
            preset = load_preset(rt.preset)
            return preset if rt.intensity is None else preset.with_intensity(rt.intensity)
        preset, intensities = self.hardware()[0]
        x = rt.intensity if rt.intensity is not None else intensities[0]
        return preset if x is None else preset.with_intensity(x)

    def arm_key(self, arm: str) -> str:
        """Hash of everything an arm's retrained model depends on besides the run itself."""
        return config_hash({"arm": arm, "cfg": self.arm_settings().keyed(), "preset": self.retrain_preset().values})

    def arm_checkpoint_name(self, arm: str, baseline_key: str) -> str:
        return f"arm-{arm}-{config_hash({'ckpt': baseline_key, 'arm': self.arm_key(arm)})}.pt"

    def retrain_ideal_key(self, arm: str) -> str:
        """Key of an arm's row on ideal hardware."""
        return RowKey(RowKind.RETRAIN_IDEAL, (ARM_LABELS[arm],), self.arm_key(arm)[:8]).text()

    def retrain_cells(self, arm: str) -> list[tuple[Cell, Preset]]:
        target = self.arm_settings().target
        only = self.cfg.retrain.presets
        cells = []
        for preset, intensities in self.hardware():
            if only and preset.name not in only:
                continue
            for x in intensities:
                p = preset if x is None else preset.with_intensity(x)
                tag = f"{self.arm_key(arm)[:8]}{preset_tag(p)}"
                cells.append((Cell(RowKind.RETRAIN, preset.name, cell_intensity(x), ARM_LABELS[arm], target, tag), p))
        return cells

    def prune_key(self, kind: str, sparsity: float) -> str:
        pr = self.cfg.prune
        settings: dict[str, Any] = {k: getattr(pr, k) for k in ("finetune_steps", "lr", "beta")}
        return RowKey(RowKind.PRUNE, (kind, str(sparsity)), config_hash(settings)[:8]).text()

    def planned_rows(self) -> dict[str, int]:
        """Every row key the current config asks for, with its number of rows (chips; 1 for a row
        on ideal hardware)."""
        dr, rt = self.cfg.drift, self.cfg.retrain
        rows = {BASELINE_KEY: 1}
        rows.update({cell_key(c): self.cfg.chips_per_cell("sweep") for c, _ in self.sweep_cells()})
        rows.update({cell_key(c, float(t)): self.cfg.chips_per_cell("drift") for c, _ in self.drift_cells()
                     for t in dr.times})
        for arm in rt.arms:
            rows[self.retrain_ideal_key(arm)] = 1
            rows.update({cell_key(c): self.cfg.chips_per_cell("retrain") for c, _ in self.retrain_cells(arm)})
        rows.update({self.prune_key(k, s): 1 for k in self.cfg.prune.kinds for s in self.cfg.prune.sparsities})
        return rows

    def expected_cells(self) -> set[str]:
        """Every row key the current config asks for: reports show exactly these."""
        return set(self.planned_rows())

    def diagnostic_models(self) -> set[str]:
        """The models whose per-group diagnostics the arms stage records (none without arms or iterations)."""
        rt = self.cfg.retrain
        if not rt.arms or not rt.diagnostic_iters:
            return set()
        return {"pre-trained", *(ARM_LABELS[arm] for arm in rt.arms)}
