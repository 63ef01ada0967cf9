"""The audit report: ``docs/reports/<audit>/README.md``, what an auditor of one trained model asks.

Per group on each technology, every group value, over drift time, which layer's errors hurt
which group, and whether F+A R targeting helps; the study report with every cell sits in
``study/``. The predictions behind it are written beside it for fairlearn and ``metrics``.

Why it takes plain inputs: it renders from the results database and the audit's recorded facts
about the model (``study.keys.AUDIT_FACTS``), never from a live model, so it needs no torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..csv_files import write_csv
from ..errors import UserError
from ..metrics import compute, registry
from ..provenance import provenance_note
from ..safe_files import safe_mkdir, write_atomic
from ..store import ResultsStore
from ..study.schema import StudyConfig
from . import groups as group_table
from . import population
from .markdown import base_test_sd, claims_section, drift_section, skipped_lines
from ..study.keys import AUDIT_FACTS, RowKind, layer_of
from .numbers import pm
from .rows import baseline_row, of_kind
from .stats import mean_ci

GROUP_METRICS = tuple((column, label) for column, label, _ in registry.view("audit", long=True))


def _technologies(df: pd.DataFrame, base: pd.Series, boot: dict[str, Any]) -> list[str]:
    lines = ["## Per group on each technology", "",
             "Uniform errors (every crossbar weight), mean ± 95% interval over chips; the first row is the model "
             "on ideal hardware, [brackets] its stratified bootstrap over test images.", "",
             "| technology | intensity | chips | " + " | ".join(label for _, label in GROUP_METRICS) + " |",
             "|---|---|---|" + "---|" * len(GROUP_METRICS)]
    lines.append("| ideal (pre-trained) | | | " + " | ".join(
        f"{base[k]:.3f}" + (f" [{boot[k][0]:.3f}, {boot[k][1]:.3f}]" if k in boot else "")
        for k, _ in GROUP_METRICS) + " |")
    uniform = of_kind(df, RowKind.SWEEP).query("method == 'uniform'")
    for (preset, x), part in uniform.groupby(["preset", "intensity"], sort=False):
        lines.append(f"| {preset} | {x:g} | {len(part)} | " + " | ".join(pm(*mean_ci(part[k])) for k, _ in GROUP_METRICS)
                     + " |")
    return lines + [""]


def per_value(predictions: pd.DataFrame, num_classes: int) -> pd.DataFrame:
    """Accuracy and macro-F1 of every group value, per preset (mean over chips), plus the share of
    images; the pre-trained model is preset "ideal"."""
    rows = []
    for (preset, value), part in predictions.groupby(["preset", "group_value"], sort=False):
        per_chip = [(float((p.y_true == p.y_pred).mean()), _macro_f1(p.y_true.to_numpy(), p.y_pred.to_numpy(),
                                                                     num_classes))
                    for _, p in part.groupby("chip")]
        acc, f1 = np.mean(per_chip, axis=0)
        rows.append({"preset": preset, "group_value": value, "images": int(len(part) / part["chip"].nunique()),
                     "accuracy": acc, "f1_macro": f1})
    return pd.DataFrame(rows)


def _macro_f1(y: np.ndarray, p: np.ndarray, k: int) -> float:
    """Macro-F1 over the classes present, through the same code as every other metric."""
    g = np.zeros_like(y)
    g[: len(g) // 2] = 1  # compute() needs two groups; the pooled macro-F1 ignores them
    if len(y) < 2:
        return float("nan")
    return float(compute(y, p, g, num_classes=k)["f1_macro"])


def _values(table: pd.DataFrame) -> list[str]:
    presets = list(dict.fromkeys(table["preset"]))
    lines = ["## Every group value", "",
             "Accuracy (macro-F1) per value of the group column, mean over the uniform-error chips of each "
             "technology; `ideal` is the pre-trained model.", "",
             "| group value | test images | " + " | ".join(presets) + " |", "|---|---|" + "---|" * len(presets)]
    for value, part in table.groupby("group_value", sort=True):
        cells = {r.preset: f"{r.accuracy:.3f} ({r.f1_macro:.3f})" for r in part.itertuples()}
        lines.append(f"| {value} | {part['images'].iloc[0]} | " + " | ".join(cells.get(p, "") for p in presets) + " |")
    return lines + [""]


def _layers(df: pd.DataFrame, base: pd.Series) -> list[str]:
    layer = of_kind(df, RowKind.LAYER)
    if layer.empty:
        return []
    rows = []
    for method, part in layer.groupby("method", sort=False):
        rows.append({"layer": layer_of(method), "preset": part["preset"].iloc[0],
                     "intensity": part["intensity"].iloc[0], "weights": part["targeted_fraction"].iloc[0],
                     **{k: mean_ci(part[m] - base[m]) for k, m in (("d_acc_g0", "acc_g0"), ("d_acc_g1", "acc_g1"),
                                                                    ("d_eodds", "eodds"))}})
    rows.sort(key=lambda r: r["d_acc_g0"][0])
    worst = {g: min(rows, key=lambda r: r[f"d_acc_g{g}"][0]) for g in (0, 1)}
    lines = ["## Which layers hurt which group", "",
             f"Errors on one crossbar layer at a time ({rows[0]['preset']} at {rows[0]['intensity']:g}), change against "
             "the pre-trained model, mean ± 95% interval over chips; most harmful to the unprivileged group first.", "",
             f"- Unprivileged group: layer `{worst[0]['layer']}` costs most ({100 * worst[0]['d_acc_g0'][0]:+.1f} "
             "accuracy points).",
             f"- Privileged group: layer `{worst[1]['layer']}` costs most ({100 * worst[1]['d_acc_g1'][0]:+.1f} "
             "accuracy points).", "",
             "| layer | share of crossbar weights | Δ accuracy unpriv. (pts) | Δ accuracy priv. (pts) | ΔEOdds |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['layer']} | {100 * r['weights']:.1f}% | {100 * r['d_acc_g0'][0]:+.2f} ± "
                     f"{100 * r['d_acc_g0'][1]:.2f} | {100 * r['d_acc_g1'][0]:+.2f} ± {100 * r['d_acc_g1'][1]:.2f} | "
                     f"{r['d_eodds'][0]:+.3f} ± {r['d_eodds'][1]:.3f} |")
    return lines + [""]


FAIRLEARN = """```python
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score
p = pd.read_csv("predictions.csv")
chip = p[(p.preset == "pcm-ibm") & (p.chip == 0)]
MetricFrame(metrics=accuracy_score, y_true=chip.y_true, y_pred=chip.y_pred,
            sensitive_features=chip.group_value).by_group
```"""


def _model_facts(store: ResultsStore, run_id: str, name: str) -> dict[str, Any]:
    """What the audit recorded of its model (``study.keys.AUDIT_FACTS``)."""
    facts = {k: store.get_meta(run_id, k) for k in AUDIT_FACTS}
    missing = [k for k, v in facts.items() if v is None]
    if missing:
        raise UserError(f"audit '{name}' has not recorded {', '.join(missing)} yet: rerun `fairxbar-aihw audit "
                        f"{name} ...` (it resumes, records them and writes the report)")
    return facts


def write_audit_report(store: ResultsStore, run_id: str, cfg: StudyConfig, cells: set[str],
                       predictions: pd.DataFrame, out: Path) -> Path:
    """Write the audit README, ``predictions.csv`` (per chip, long form), ``by_group.csv`` and
    ``pretrained_predictions.csv`` (what ``fairxbar-aihw metrics`` reads) into ``out``, from the
    run's rows of ``cells`` (its expected cells) and its per-layer rows, its metadata and the
    chips' ``predictions``."""
    facts = _model_facts(store, run_id, cfg.name)
    safe_mkdir(out.parent, out.name)
    df = store.to_frame(run_id)
    df = df[df["cell"].isin(cells) | (df["kind"] == RowKind.LAYER)]
    base = baseline_row(df)
    meta = {k: store.get_meta(run_id, k, {}) or {} for k in ("environment", "baseline", "dataset", "groups")}
    boot = meta["baseline"].get("test_bootstrap") or {}
    m = cfg.model
    source = m.file or m.weights or m.entry
    layers = facts["crossbar_layers"]
    groups = meta["groups"].get("names") or {}
    lines = [f"# Audit `{cfg.name}`", "", provenance_note(meta["environment"]), "",
             "> One trained model: every interval here is over chips (or test images) of this model.", "",
             "## What was audited", "",
             f"- Model: `{source}` ({facts['model_kind']}); {len(layers)} conv/linear layers on crossbars; kept "
             f"digital: {', '.join(list(cfg.model.digital_layers) + facts['digital_only_layers']) or 'none'}.",
             f"- Data: `{cfg.dataset.name}` under `{cfg.dataset.root}` at {cfg.dataset.size} px; test split "
             f"{meta['dataset'].get('sizes', {}).get('test')} images; unprivileged (0) = {groups.get('0', groups.get(0))}, "
             f"privileged (1) = {groups.get('1', groups.get(1))}.", *skipped_lines(meta["dataset"]),
             f"- F+A R saliency: `{cfg.saliency.estimator}` curvature on {cfg.saliency.samples_per_group} training "
             "images per group" + (" (a model file has no module tree BackPACK's exact curvature can extend; "
                                   "Hutchinson's estimate is noisy, see the user guide)"
                                   if cfg.saliency.estimator == "hutchinson" else "") + ".",
             "- Full study report (every cell): [study/README.md](study/README.md).", ""]
    lines += claims_section({cfg.seed: df}, cfg, out, base_sd={cfg.seed: base_test_sd(meta)})
    names = group_table.value_names(meta["groups"])
    lines += population.section({cfg.seed: df}, cfg.yield_spec, out, cfg.gap_column(cfg.claims.gap), names)
    lines += group_table.section({cfg.seed: df}, names, out) if names else []
    lines += _technologies(df, base, boot)
    values = per_value(predictions, facts["num_classes"])
    lines += _values(values)
    drift = of_kind(df, RowKind.DRIFT)
    if len(drift):
        lines += drift_section(drift, base, out)
    lines += _layers(df, base)
    write_csv(out / "predictions.csv", predictions)
    write_csv(out / "by_group.csv", values, float_format="%.6g")
    pre = predictions[predictions["preset"] == "ideal"]
    write_csv(out / "pretrained_predictions.csv",
              pd.DataFrame({"label": pre["y_true"], "pred": pre["y_pred"], "group": pre["group"]}))
    lines += ["## Files", "",
              "- `predictions.csv`: every test image on every chip (uniform errors) and on ideal hardware (chip −1): "
              "`preset, intensity, chip, image, y_true, y_pred, group, group_value` — the long form fairlearn's "
              "`MetricFrame` reads:", "", FAIRLEARN, "",
              "- `by_group.csv`: the group-value table above.",
              "- `pretrained_predictions.csv`: the pre-trained model's predictions (`label, pred, group`); "
              "`fairxbar-aihw metrics pretrained_predictions.csv` reproduces the ideal row.", ""]
    return write_atomic(out / "README.md", "\n".join(lines).encode("utf-8"))
