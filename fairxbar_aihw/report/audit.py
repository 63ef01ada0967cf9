"""The audit report: ``docs/reports/<audit>/README.md``, what an auditor of one trained model asks.

Per group on each technology, every group value, over drift time, which layer's errors hurt
which group, and whether F+A R targeting helps; the study report with every cell sits in
``study/``. The predictions behind it are written beside it for fairlearn and ``metrics``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..csv_files import write_csv
from ..models.programs import program_label
from ..models.registry import crossbar_layers
from ..provenance import provenance_note
from ..safe_files import safe_mkdir, write_atomic
from ..study.audit import per_value
from ..study.pipeline import StudyRun
from . import population
from .markdown import base_test_sd, claims_section, drift_section, skipped_lines
from ..study.keys import RowKind, layer_of
from .numbers import pm
from .rows import baseline_row, of_kind
from .stats import mean_ci

GROUP_METRICS = (("acc_g0", "accuracy unpriv."), ("acc_g1", "accuracy priv."), ("f1_g0", "macro-F1 unpriv."),
                 ("f1_g1", "macro-F1 priv."), ("f1_micro", "pooled F1"), ("eodds", "EOdds"), ("eopp0", "EOpp0"))


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


def write_audit_report(run: StudyRun, predictions: pd.DataFrame, digital_only: list[str], out: Path) -> Path:
    """Write the audit README, ``predictions.csv`` (per chip, long form), ``by_group.csv`` and
    ``pretrained_predictions.csv`` (what ``fairxbar-aihw metrics`` reads) into ``out``."""
    safe_mkdir(out.parent, out.name)
    cfg, store = run.cfg, run.store
    df = store.to_frame(run.run_id)
    df = df[df["cell"].isin(run.expected_cells()) | (df["kind"] == RowKind.LAYER)]
    base = baseline_row(df)
    meta = {k: store.get_meta(run.run_id, k, {}) or {} for k in ("environment", "baseline", "dataset", "groups")}
    boot = meta["baseline"].get("test_bootstrap") or {}
    m = cfg.model
    source = m.file or m.weights or m.entry
    kind = program_label(m.file) if m.file else f"state dict for {m.name}" if m.weights else "entry point"
    layers = [n for n in crossbar_layers(run.baseline[0]) if n not in cfg.model.digital_layers]
    groups = meta["groups"].get("names") or {}
    lines = [f"# Audit `{run.name}`", "", provenance_note(meta["environment"]), "",
             "> One trained model: every interval here is over chips (or test images) of this model.", "",
             "## What was audited", "",
             f"- Model: `{source}` ({kind}); {len(layers)} conv/linear layers on crossbars; kept digital: "
             f"{', '.join(list(cfg.model.digital_layers) + digital_only) or 'none'}.",
             f"- Data: `{cfg.dataset.name}` under `{cfg.dataset.root}` at {cfg.dataset.size} px; test split "
             f"{meta['dataset'].get('sizes', {}).get('test')} images; unprivileged (0) = {groups.get('0', groups.get(0))}, "
             f"privileged (1) = {groups.get('1', groups.get(1))}.", *skipped_lines(meta["dataset"]),
             f"- F+A R saliency: `{cfg.saliency.estimator}` curvature on {cfg.saliency.samples_per_group} training "
             "images per group" + (" (a model file has no module tree BackPACK's exact curvature can extend; "
                                   "Hutchinson's estimate is noisy, see the user guide)"
                                   if cfg.saliency.estimator == "hutchinson" else "") + ".",
             "- Full study report (every cell): [study/README.md](study/README.md).", ""]
    lines += claims_section({cfg.seed: df}, cfg, out, base_sd={cfg.seed: base_test_sd(meta)})
    lines += population.section({cfg.seed: df}, cfg.yield_spec, out, cfg.claims.gap)
    lines += _technologies(df, base, boot)
    values = per_value(predictions, run.splits.num_classes)
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
