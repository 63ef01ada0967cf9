"""``fairxbar-aihw audit``: one trained model, one labelled dataset, one or more technologies.

Why a study underneath: the audit is a one-seed study whose model is given (no training), so
chips, drift, F+A R targeting, resuming and the results database are the study's own. It adds
what an auditor asks that a study does not: which layer's errors hurt which group (errors on
one layer at a time), every group value's numbers when there are more than two, and per-chip
predictions in the long form fairlearn's ``MetricFrame`` reads. Its report is written by the
application layer (``app``) from what these stages stored, including what the report would
otherwise read of the live model (``keys.AUDIT_FACTS``, recorded by ``record_report_facts``).
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..data import dataset_info
from ..errors import DataWarning
from ..hardware.technologies import TECHNOLOGIES
from ..models.programs import program_label
from ..models.registry import crossbar_layers
from ..models.user import digital_only_layers
from ..saliency.methods import MethodLabel
from .chips import chip_logits
from .config import DRIFT_DEFAULT_TIMES, validate
from .keys import AUDIT_FACTS
from .pipeline import StudyRun
from .study import Study
from .schema import StudyConfig
from . import stages
from .stages import compute_stages, prepare

AUDIT_METHODS = ["uniform", "random", "FR-matched", "F+A R"]


def audit_config(name: str, model: dict[str, Any], dataset: dict[str, Any], presets: list[str], chips: int = 10,
                 seed: int = 0, target: float = 0.4, drift: bool = True) -> StudyConfig:
    """The one-seed study an audit runs: uniform errors and F+A R (with its controls) on each
    technology, drift over time where the technology drifts, no training."""
    from ..hardware.presets import load_preset, supported_drift_times

    def drifts_anytime(name: str) -> bool:  # tabulated models (fixed times only) are left out of drift
        preset = load_preset(name)
        return TECHNOLOGIES[preset.values["noise_model"]].drifts and supported_drift_times(preset) is None

    drifting = [p for p in presets if drifts_anytime(p)]
    raw: dict[str, Any] = {
        "description": "Audit of a given trained model on analog chips: per-group accuracy and fairness on each "
                       "technology, over drift time, per layer, and whether F+A R targeting helps.",
        "seeds": [seed], "dataset": dataset, "model": model,
        "saliency": {"estimator": "hutchinson" if model.get("file") else "hessian-exact",
                     "samples_per_group": 256, "batch_size": 64, "probes": 16},
        "sweep": {"methods": AUDIT_METHODS, "targets": [target], "hardware": [{"preset": p} for p in presets],
                  "trials": chips},
        "drift": {"times": DRIFT_DEFAULT_TIMES if drift and drifting else [], "presets": drifting if drift else [],
                  "methods": ["uniform", "F+A R"], "target": target, "trials": max(2, chips // 2)},
    }
    cfg = validate(raw, name)
    cfg._owner = ("audit", "")  # its folders are the audit's: a study of the same name may not take them
    return cfg


class Audit(Study):
    """A one-seed study of a given model plus the audit's own stages."""

    @property
    def only(self) -> StudyRun:
        return self.run(self.seeds[0])

    def predictions(self) -> pd.DataFrame:
        """Per-chip test predictions under uniform errors on each technology (the same chips as the
        sweep's uniform rows), and the pre-trained model's as chip "pre-trained"."""
        run = self.only
        run.code_groups()
        test = run.splits.test
        values = test.values.numpy() if test.values is not None else test.groups.numpy()
        names = run.splits.info.get("group_values") or [run.splits.group_names[0], run.splits.group_names[1]]
        base = {"image": np.arange(len(test)), "y_true": test.labels.numpy(), "group": test.groups.numpy(),
                "group_value": [names[v] for v in values]}
        from ..training import predict_logits

        frames = [pd.DataFrame({**base, "preset": "ideal", "intensity": np.nan, "chip": -1,
                                "y_pred": predict_logits(run.baseline[0], test, run.device).argmax(1).numpy()})]
        for cell, preset in run.plan.sweep_cells():
            if MethodLabel.split(cell.method).needs_masks:  # the uniform rows: errors on every weight
                continue
            for trial, _, _, read in chip_logits(run.evaluator, cell, preset, None, list(range(run.cfg.sweep.trials)),
                                                 run.cfg.seed, [None]):
                frames.append(pd.DataFrame({**base, "preset": cell.preset, "intensity": cell.intensity, "chip": trial,
                                            "y_pred": read[0][1].argmax(1).cpu().numpy()}))
        return pd.concat(frames, ignore_index=True)

    def class_order_hint(self) -> str | None:
        """A likely class-order mix-up: no ``classes`` given and the given model's digital test
        accuracy near or below chance (under 1.5/K, at most 50%), as a foreign model with a
        different output order scores."""
        run = self.only
        ds = run.cfg.dataset
        if ds.classes is not None or "classes" not in inspect.signature(dataset_info(ds.name).loader()).parameters:
            return None
        run.code_groups()
        k = run.splits.num_classes
        acc = float(run.baseline[1]["test"]["accuracy"])
        if acc >= min(1.5 / k, 0.5):
            return None
        return (f"the model's digital test accuracy is {acc:.1%}, near or below chance ({1 / k:.1%} for {k} classes): "
                f"its class order probably differs from the sorted labels ({', '.join(run.splits.class_names[:6])}"
                f"{', …' if k > 6 else ''}); pass --classes (dataset.classes) in the model's output order")

    def compute_all(self) -> None:
        """Every audit stage not done yet (a likely class-order mix-up is warned about first)."""
        run = self.only
        hint = self.class_order_hint()  # before the slow stages, so it is seen at once
        if hint:
            warnings.warn(hint, DataWarning, stacklevel=2)
        prepare(run)
        self.record_report_facts()  # also for a run folder made before these facts were stored
        compute_stages(run, [s for s in stages.REGISTRY.audit if s not in stages.REGISTRY.prepare])

    def record_report_facts(self) -> dict[str, Any]:
        """Store what the audit report says of the given model (``keys.AUDIT_FACTS``), so the report
        renders from the results database alone: the layers on crossbars (the study's digital
        layers left out), the layers kept digital because no crossbar holds their kind, the
        class count and how the model arrived."""
        run = self.only
        run.code_groups()
        model, m = run.baseline[0], run.cfg.model
        facts = {"crossbar_layers": [n for n in crossbar_layers(model) if n not in m.digital_layers],
                 "digital_only_layers": digital_only_layers(model),
                 "num_classes": run.splits.num_classes,
                 "model_kind": program_label(m.file) if m.file else f"state dict for {m.name}" if m.weights
                 else "entry point"}
        for key in AUDIT_FACTS:
            run.store.set_meta(run.run_id, key, facts[key])
        return facts
