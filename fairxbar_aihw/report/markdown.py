"""The study report: ``docs/reports/<study>/README.md`` + PNG figures, built from the DB alone.

Regenerating from the same database gives the same files (no timestamps, sorted tables).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..csv_files import write_csv
from ..data.skips import describe_skips
from ..errors import UserError
from ..metrics import improvement, registry
from ..provenance import provenance_note
from ..safe_files import safe_mkdir, write_atomic
from ..store import ResultsStore
from ..study.schema import StudyConfig
from . import groups as group_table
from . import claims_text, figures, population
from .claims_chips import chip_differences, gap_metric
from .claims_registry import table_pairs
from .claims_table import claim_table, setting_table
from ..saliency.methods import MethodLabel, canonical
from .stats import paired_comparison, summarise
from ..study.keys import RowKind
from .numbers import compute_cost, pm, synthetic_note, target_label
from .rows import chips, of_kind
from .styles import ordered
from .verdicts import MAX_COST

METRICS = [*registry.columns("cells"), "targeted_fraction"]


def _relative(imp: float, ci: float, base_eodds: float) -> str:
    """An EOdds improvement with its CI as a share of the pre-trained EOdds (n/a when that is 0)."""
    return f"{100 * imp:+.1f}% (±{100 * ci / base_eodds:.1f})" if base_eodds > 0 else "n/a (pre-trained EOdds 0)"


def _model_line(cfg: StudyConfig, baseline: dict[str, Any]) -> str:
    """How the pre-trained model came to be: trained here, or given (and from where)."""
    m = cfg.model
    given = [(k, getattr(m, k)) for k in ("file", "weights", "entry") if getattr(m, k)]
    if given:
        kind, source = given[0]
        return f"- Model: given, not trained here: `{source}` ({kind}{'' if kind != 'weights' else f' for {m.name}'})."
    return (f"- Model: `{m.name}`, trained {cfg.train.epochs} epochs (Adam, lr {cfg.train.lr}), best val epoch "
            f"{baseline.get('best_epoch')}.")


def _interval(bounds: list[float] | None) -> str:
    return "" if not bounds else f"[{bounds[0]:.4f}, {bounds[1]:.4f}]"


def arm_reading(cfg: StudyConfig) -> str:
    """The F+A R reading the retrained arms' chips use (their comparator in claim c)."""
    return canonical(cfg.retrain.method, cfg.saliency.fa_rule)


def claims_section(frames: dict[int, pd.DataFrame], cfg: StudyConfig, out: Path, study_seeds: int = 1,
                   base_sd: dict[int, float] | None = None) -> list[str]:
    """The claims table (with its forest plot) from each seed's rows; CSVs of it beside the report."""
    return claims_parts(frames, cfg, out, study_seeds, base_sd)[0]


def claims_parts(frames: dict[int, pd.DataFrame], cfg: StudyConfig, out: Path, study_seeds: int = 1,
                 base_sd: dict[int, float] | None = None) -> tuple[list[str], pd.DataFrame]:
    """``claims_section`` and the setting-by-setting table behind it (empty when no comparison has
    chips), so a report that shows both computes the chip differences and that table once.
    ``base_sd``: each seed's test-set standard deviation of its pre-trained gap, where known."""
    settings = cfg.claims
    gap = gap_metric(frames, cfg.gap_column(settings.gap))
    chips, empty = chip_differences(frames, arm_reading(cfg), gap, base_sd)
    table, per_seed = claim_table(chips, settings)
    table = claims_text.with_to_decide(table, settings)
    by_setting = claims_text.with_to_decide(setting_table(chips, settings), settings) if len(chips) \
        else pd.DataFrame()
    figure = figures.claims_forest(table, per_seed, out) if len(table) else None
    if len(table):
        write_csv(out / "claims.csv", table.assign(gap=gap), claims_text.TOOL_TEXT, float_format="%.6g")
        write_csv(out / "claims_by_setting.csv", by_setting.assign(gap=gap), claims_text.TOOL_TEXT,
                  float_format="%.6g")
    return claims_text.markdown(table, empty, figure, study_seeds, settings, gap), by_setting


def base_test_sd(meta: dict[str, Any]) -> float:
    """The pre-trained gap's test-set standard deviation from its stored stratified bootstrap (the
    95% percentile interval of the raw EOdds over 3.92, its width under normality); 0 if absent."""
    bounds = ((meta.get("baseline") or {}).get("test_bootstrap") or {}).get("eodds")
    return (bounds[1] - bounds[0]) / 3.92 if bounds else 0.0


def _results_table(summary: pd.DataFrame, base: pd.Series) -> list[str]:
    bc = "eodds_bc" in summary
    lines = ["| preset | intensity | method | target | weights hit | chips | macro-F1 | pooled F1 | EOdds | "
             + ("EOdds_bc | " if bc else "") + "EOpp0 | EOdds_nd | acc unpriv. | acc priv. | EOdds improvement | "
             "pooled-F1 cost (pts) |", "|---|---|---|---|---|---|---|---|---|" + ("---|" if bc else "")
             + "---|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        imp = improvement(base["eodds"], r["eodds"])
        cost = 100 * (base["f1_micro"] - r["f1_micro"])  # the paper's F1 (eq. 3) for the cost
        lines.append(
            f"| {r['preset']} | {r['intensity']:g} | {r['method']} | {target_label(r['target'])} | "
            f"{100 * r['targeted_fraction']:.2f}% | {r['n']} | "
            f"{pm(r['f1_macro'], r['f1_macro_ci'])} | {pm(r['f1_micro'], r['f1_micro_ci'])} | "
            f"{pm(r['eodds'], r['eodds_ci'])} | " + (f"{pm(r['eodds_bc'], r['eodds_bc_ci'])} | " if bc else "") +
            f"{pm(r['eopp0'], r['eopp0_ci'])} | {pm(r['eodds_nd'], r['eodds_nd_ci'])} | "
            f"{r['acc_g0']:.3f} | {r['acc_g1']:.3f} | {_relative(imp, r['eodds_ci'], base['eodds'])} | "
            f"{cost:+.2f} (±{100 * r['f1_micro_ci']:.2f}) |"
        )
    return lines


def fa_labels(methods: "pd.Series | list[str]") -> list[str]:
    """The F+A R readings present ("F+A R", "F+A R [intersect]"), in registry order."""
    return [m for m in ordered(methods) if MethodLabel.split(m).is_fa]


def _comparisons(sweep: pd.DataFrame, arm_target: str = "F+A R") -> tuple[list[str], dict[str, dict[str, int]]]:
    """Paired A-vs-B rows over identical chips; ΔF1 and the verdict use the paper's pooled F1 (eq. 3)."""
    lines = ["| preset | intensity | target | comparison | ΔF1 pooled (A−B) | ΔEOdds (A−B) | verdict for A |",
             "|---|---|---|---|---|---|---|"]
    tally: dict[str, dict[str, int]] = {}
    arms = [m for m in dict.fromkeys(of_kind(sweep, RowKind.RETRAIN)["method"])]
    for fa in fa_labels(sweep["method"]):
        settings = sweep[sweep["method"] == fa][["preset", "intensity", "target"]].drop_duplicates()
        for _, s in settings.iterrows():
            cell = sweep[(sweep["preset"] == s["preset"]) & (sweep["intensity"] == s["intensity"])
                         & (sweep["target"] == s["target"])]
            if cell.loc[cell["method"] == fa, "targeted_fraction"].max() == 0:
                continue  # this reading left the model untouched here: comparing it would flatter it
            for name_a, name_b in table_pairs(fa, arms, arm_target):
                a, b = cell[cell["method"] == name_a], cell[cell["method"] == name_b]
                if not len(a) or not len(b):
                    continue
                c = paired_comparison(a, b)
                v = c["verdict"]
                key = "better" if v == "better" else "worse" if v == "worse" else "other"
                tally.setdefault(f"{name_a} vs {name_b}", {"better": 0, "worse": 0, "other": 0})[key] += 1
                lines.append(f"| {s['preset']} | {s['intensity']:g} | {target_label(s['target'])} | {name_a} vs "
                             f"{name_b} | {pm(c['d_f1'], c['d_f1_ci'], 100, 2)} pts | "
                             f"{pm(c['d_eodds'], c['d_eodds_ci'])} | {v} |")
    return lines, tally


def _statement(tally: dict[str, dict[str, int]], summary: pd.DataFrame, base: pd.Series) -> list[str]:
    out = []
    for pair, t in tally.items():
        n = sum(t.values())
        out.append(f"- **{pair}**: better in {t['better']} of {n} settings, worse in {t['worse']}, "
                   f"mixed or not significant in {t['other']} (paired over identical chips, 95% CI).")
    for fa in fa_labels(summary["method"]):
        empty = summary[(summary["targeted_fraction"] == 0) & (summary["method"] == fa)]
        for target, _ in empty.groupby("target", sort=True):
            out.append(f"- **{fa} at {target_label(target)} targets no weights**: its fairness set and accuracy set "
                       "leave nothing for this model and curvature, so those rows equal the pre-trained model "
                       "(and so do its controls, which copy its per-layer counts).")
        far = summary[(summary["method"] == fa) & (summary["targeted_fraction"] > 0)]
        if len(far):
            fair = far[(far["eodds"] + far["eodds_ci"] < base["eodds"]) &
                       (100 * (base["f1_micro"] - far["f1_micro"]) < 100 * MAX_COST)]
            out.append(f"- **{fa} vs the pre-trained model**: EOdds significantly below the pre-trained value with "
                       f"< 1 point of the paper's pooled F1 lost in {len(fair)} of {len(far)} settings where it "
                       "targets any weight"
                       + (f" (best: {100 * improvement(base['eodds'], fair['eodds'].min()):.1f}% EOdds improvement)."
                          if len(fair) else ". The paper's effect does not appear here."))
    return out


def skipped_lines(dataset: dict[str, Any]) -> list[str]:
    """What loading the dataset left out, counted by kind (real datasets; nothing when not recorded)."""
    counts = (dataset.get("info") or {}).get("skipped")
    return [f"- Data {describe_skips(counts)}."] if counts else []


def incomplete_note(line: str) -> list[str]:
    """The warning an unfinished run's report opens with (nothing when ``line`` is empty)."""
    return [f"> **INCOMPLETE RUN:** {line}", ""] if line else []


def _setup_lines(cfg: StudyConfig, meta: dict[str, Any], sweep: pd.DataFrame) -> list[str]:
    """The study's description and its setup: data, groups, layers, model, saliency, chips."""
    ds, groups = meta["dataset"], meta["groups"]
    names = {int(k): v for k, v in (groups.get("names") or {}).items()}
    return [cfg.description.strip(), "",
            "## Setup", "",
            f"- Dataset: `{ds.get('name')}` at {ds.get('image_size')} px; splits train/val/test = "
            f"{ds.get('sizes', {}).get('train')}/{ds.get('sizes', {}).get('val')}/{ds.get('sizes', {}).get('test')}; "
            f"{len(ds.get('class_names', []))} classes.", *skipped_lines(ds),
            f"- Groups: unprivileged (0) = {names.get(0)}, privileged (1) = {names.get(1)} "
            f"(setting `{groups.get('unprivileged_setting')}`; dataset coding swapped: {groups.get('swapped')}).",
            f"- Layers kept digital (exact): {', '.join(cfg.model.digital_layers) or 'none'}; "
            "every other conv/linear layer is on crossbars.",
            _model_line(cfg, meta["baseline"]),
            f"- Saliency: `{cfg.saliency.estimator}` curvature on {cfg.saliency.samples_per_group} "
            f"training samples per group, β = {cfg.saliency.beta}.",
            f"- Monte-Carlo: {int(sweep.groupby('cell').size().max()) if len(sweep) else 0} chips per cell; chip seeds "
            "are shared across methods, so method differences are paired.", ""]


def _pretrained_lines(base: pd.Series, boot: dict[str, Any]) -> list[str]:
    """The pre-trained model on ideal hardware: each metric with its test-set bootstrap interval."""
    lines = ["## Pre-trained model (ideal hardware), test split", "",
             "| metric | value | 95% interval over test images |", "|---|---|---|"]
    for key in registry.columns("pretrained"):
        if key in base and not pd.isna(base[key]):  # rows stored before the corrected gaps have none
            lines.append(f"| {key} | {base[key]:.4f} | {_interval(boot.get(key))} |")
    if "eodds_floor" in base and not pd.isna(base["eodds_floor"]):
        lines += ["", f"`eodds_floor` is the EOdds this test set shows from sampling alone when the groups share every "
                  f"rate; `*_bc` are the gaps with that finite-sample bias reduced to about ±0.2σ per rate "
                  f"difference (Cai & Low 2011; user guide, *Bias-corrected gaps*, for where it holds). Raw EOdds "
                  f"{base['eodds']:.3f} against a corrected gap of {base['eodds_bc']:.3f}."]
    if boot:
        lines += ["", f"Intervals: stratified bootstrap over test images ({boot['resamples']} resamples within each "
                  "group × class stratum, percentile): the test set's own uncertainty, before any chip or seed."]
    return lines + [""]


def _sweep_section(sweep: pd.DataFrame, base: pd.Series, cfg: StudyConfig, out: Path
                   ) -> tuple[list[str], list[tuple[str, str]]]:
    """Does steering errors make the model fairer: every sweep cell, the paired comparisons, and
    the sweep's figures (titles and files)."""
    corrected = ["eodds_bc"] if "eodds_bc" in sweep and sweep["eodds_bc"].notna().all() else []
    summary = summarise(sweep, ["preset", "intensity", "method", "target"], METRICS + corrected)
    summary = summary.sort_values(["preset", "intensity", "target", "method"], na_position="first")
    comp_lines, tally = _comparisons(sweep, arm_reading(cfg))
    lines = ["## Does steering errors make the model fairer?", ""]
    lines += _statement(tally, summary, base)
    lines += ["", "Improvement = (EOdds_pre − EOdds)/EOdds_pre; cost = F1_pre − F1 in points; "
              "± = 95% t-interval over chips.", "", "### Every sweep cell", ""]
    lines += _results_table(summary, base)
    lines += ["", "### Paired comparisons (same chips)", ""] + comp_lines + [""]
    main_target = max(cfg.sweep.targets)
    figs = [("F1 vs EOdds of every chip (cf. Fig. 6)", figures.clouds(sweep, base, main_target, out)),
            ("Sensitivity to error intensity (cf. Fig. 7)", figures.intensity_sensitivity(sweep, base, main_target, out)),
            ("Accuracy-fairness trade-off summary (cf. Fig. 8)", figures.tradeoff(summary, base, out))]
    return lines, figs


def _reproduce_lines(cfg: StudyConfig, meta: dict[str, Any]) -> list[str]:
    """How to reproduce the run: the command, the software, the stage timings and the resolved config."""
    return ["## Reproduce", "", f"`fairxbar-aihw study {cfg.name}` (resumes; `--fresh` starts over).", "",
            "Software: " + ", ".join(f"{k} {v}" for k, v in sorted(meta["environment"].items())), "",
            "Stage timings (s, first computation): " + ", ".join(
                f"{k} {v}" for k, v in sorted(meta["timings"].items()))
            + (f"; all stages {compute_cost(sum(meta['timings'].values()), meta['eval_seconds'])} "
               f"(one digital test-set evaluation: {float(meta['eval_seconds']):.3f} s)" if meta["eval_seconds"] else ""),
            "",
            "<details><summary>Resolved config</summary>", "", "```yaml",
            yaml.safe_dump({k: v for k, v in cfg.as_dict().items() if k != "quick"}, sort_keys=True).strip(), "```", "",
            "</details>", ""]


def write_report(store: ResultsStore, run_id: str, out: Path, cfg: StudyConfig,
                 cells: set[str] | None = None, study_seeds: int = 1, incomplete: str = "") -> Path:
    """Write README.md and figures for one run (only rows of ``cells`` if given); returns its path.
    ``study_seeds`` > 1: the run is one seed of a study whose across-seed report sits one folder up.
    ``incomplete``: what the run lacks (``study.progress.incomplete_line``), stated on top."""
    df = store.to_frame(run_id)
    if cells is not None and not df.empty:
        df = df[df["cell"].isin(cells)].reset_index(drop=True)
    if df.empty or "kind" not in df:
        raise UserError(f"no results for study '{cfg.name}' yet: run `fairxbar-aihw study {cfg.name}` first")
    safe_mkdir(out.parent, out.name)
    base_rows = of_kind(df, RowKind.BASELINE)
    if base_rows.empty:
        raise UserError("the results hold no pre-trained baseline row; rerun the study")
    base = base_rows.iloc[0]
    sweep = chips(df).copy()
    drift = of_kind(df, RowKind.DRIFT).copy()
    meta = {k: store.get_meta(run_id, k, {}) for k in ("dataset", "groups", "baseline", "saliency", "environment",
                                                      "timings", "diagnostics", "arm_training", "eval_seconds")}
    lines = [f"# Study `{cfg.name}`", ""] + incomplete_note(incomplete)
    lines += synthetic_note(bool(meta["dataset"].get("synthetic")))
    lines += [provenance_note(meta["environment"], seeds=study_seeds), ""]
    lines += claims_section({cfg.seed: df}, cfg, out, study_seeds, {cfg.seed: base_test_sd(meta)})
    names = group_table.value_names(meta["groups"])
    lines += population.section({cfg.seed: df}, cfg.yield_spec, out, cfg.gap_column(cfg.claims.gap), names)
    lines += group_table.section({cfg.seed: df}, names, out) if names else []
    lines += _setup_lines(cfg, meta, sweep)
    lines += _pretrained_lines(base, (meta["baseline"] or {}).get("test_bootstrap") or {})
    figs: list[tuple[str, str]] = []
    if meta["saliency"]:
        figs.append(("Fairness rank vs accuracy rank (cf. paper Fig. 4)", figures.rank_scatter(meta["saliency"], out)))
        figs.append(("Targeted fraction per layer, FR only vs each F+A R reading (cf. Fig. 5)",
                     figures.layer_fractions(meta["saliency"], cfg.sweep.targets, out)))
    if len(sweep):
        sweep_lines, sweep_figs = _sweep_section(sweep, base, cfg, out)
        lines += sweep_lines
        figs += sweep_figs
    lines += _arms_section(df, base, meta["diagnostics"], meta["arm_training"], cfg)
    lines += ["## Figures", ""]
    for title, name in figs:
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    if len(drift):
        lines += drift_section(drift, base, out)
    lines += _reproduce_lines(cfg, meta)
    return write_atomic(out / "README.md", "\n".join(lines).encode("utf-8"))


def drift_section(drift: pd.DataFrame, base: pd.Series, out: Path) -> list[str]:
    """The drift section (a study's and an audit's): its figure in ``out`` and its tables."""
    name = figures.drift_curves(drift, base, out)
    lines = ["## Fairness over time (drift)", "",
             "Each chip is programmed once and read at every time; mean ± 95% CI over chips.", "",
             f"![drift]({name})", "",
             "| preset | method | time | macro-F1 | EOdds | acc unpriv. | acc priv. |", "|---|---|---|---|---|---|---|"]
    summ = summarise(drift, ["preset", "method", "t_inference"], list(registry.columns("drift")))
    for _, r in summ.sort_values(["preset", "method", "t_inference"]).iterrows():
        lines.append(f"| {r['preset']} | {r['method']} | {_time(r['t_inference'])} | "
                     f"{pm(r['f1_macro'], r['f1_macro_ci'])} | {pm(r['eodds'], r['eodds_ci'])} | "
                     f"{r['acc_g0']:.3f} | {r['acc_g1']:.3f} |")
    lines += ["", "### Technologies side by side (mean over chips)", "",
              "| preset | method | F1 @ 1 day | EOdds @ 1 day | F1 @ 1 year | EOdds @ 1 year |", "|---|---|---|---|---|---|"]
    for (preset, method), part in summ.groupby(["preset", "method"], sort=True):
        cells = []
        for t in (86400.0, 31536000.0):
            row = part[part["t_inference"] == t]
            cells += ["n/a", "n/a"] if row.empty else [f"{row['f1_macro'].iloc[0]:.3f}", f"{row['eodds'].iloc[0]:.3f}"]
        lines.append(f"| {preset} | {method} | " + " | ".join(cells) + " |")
    return lines + [""]


def _training_lines(training: dict[str, dict[str, Any]], cfg: StudyConfig) -> list[str]:
    """How each fine-tuned arm was trained and which checkpoint step 5 kept."""
    rt = cfg.retrain
    lines = [f"Retraining protocol: errors `{rt.errors}`, chip `{rt.chip}` (auto: one fixed chip for permanent faults, "
             f"a fresh chip per step otherwise), masks refreshed every {rt.refresh_every} step(s), validation on "
             f"{rt.val_chips} chips every {rt.eval_every} steps; kept: the lowest validation EOdds losing at most "
             f"{100 * rt.max_f1_loss:g} point(s) of pooled F1, early stop after {rt.patience} evaluations without one.",
             "", "| arm | steps run | kept step | target met | val EOdds at start → kept | val pooled F1 at start → kept |",
             "|---|---|---|---|---|---|"]
    for label, info in training.items():
        hist = info.get("val_history") or []
        if not hist:
            lines.append(f"| {label} | {info.get('steps', 'n/a')} | last | n/a | n/a | n/a |")
            continue
        kept = next((h for h in hist if h["step"] == info["kept_step"]), hist[-1])
        lines.append(f"| {label} | {info['steps_run']} of {info['steps']} | {info['kept_step']} | "
                     f"{'yes' if info['target_met'] else 'no (last step kept)'} | {hist[0]['val_eodds']:.3f} → "
                     f"{kept['val_eodds']:.3f} | {hist[0]['val_f1_pooled']:.3f} → {kept['val_f1_pooled']:.3f} |")
    fallbacks = {label: info["curvature_fallback"] for label, info in training.items() if info.get("curvature_fallback")}
    if fallbacks:  # the masks of these arms came from another estimator than the study names
        lines += [""] + [f"> **Curvature fallback** in {label}: {message}" for label, message in fallbacks.items()]
    return lines + [""]


def _arms_section(df: pd.DataFrame, base: pd.Series, diagnostics: dict[str, dict[str, float]],
                  training: dict[str, dict[str, Any]], cfg: StudyConfig) -> list[str]:
    """Retrained arms on ideal hardware, how they were trained, per-group diagnostics, and the pruning arms."""
    lines: list[str] = []
    ideal = of_kind(df, RowKind.RETRAIN_IDEAL)
    if len(ideal) or diagnostics:
        lines += ["## Mitigation arms on ideal hardware", "",
                  "Each arm fine-tunes the pre-trained model (VA/VFA with the preset's errors emulated as Monte-Carlo "
                  "chips on their refreshed masks; Plain FT, the control, with the same batches and no errors; HWA "
                  "with aihwkit's weight-noise training; fairness-loss and boundary regulariser without errors). "
                  "Their chip results are in the tables above.", ""]
        lines += _training_lines(training, cfg) if training else []
        lines += ["| arm | macro-F1 | EOdds | acc unpriv. | acc priv. | ‖∇L‖ unpriv. | ‖∇L‖ priv. | "
                  "λmax(H) unpriv. | λmax(H) priv. |", "|---|---|---|---|---|---|---|---|---|"]
        rows = [("pre-trained", base)] + [(r["method"], r) for _, r in ideal.iterrows()]
        for label, r in rows:
            d = diagnostics.get(label, {})
            diag = " | ".join(f"{d[k]:.4g}" if k in d else "n/a" for k in (
                "grad_norm_g0", "grad_norm_g1", "hessian_top_eig_g0", "hessian_top_eig_g1"))
            lines.append(f"| {label} | {r['f1_macro']:.4f} | {r['eodds']:.4f} | {r['acc_g0']:.4f} | "
                         f"{r['acc_g1']:.4f} | {diag} |")
        lines.append("")
    prune = of_kind(df, RowKind.PRUNE)
    if len(prune):
        lines += ["## Pruning arms (stuck-at-zero), ideal hardware", "",
                  "| kind | sparsity | accuracy | macro-F1 | EOdds | EOpp0 | FPR unpriv./priv. | FNR unpriv./priv. | "
                  "PPV unpriv./priv. | PPV ratio unpriv./priv. | selection-rate ratio unpriv./priv. | kappa |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in prune.sort_values(["method", "target"]).iterrows():
            lines.append(
                f"| {r['method']} | {100 * r['target']:g}% | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | "
                f"{r['eodds']:.4f} | {r['eopp0']:.4f} | {r['fpr_g0']:.3f}/{r['fpr_g1']:.3f} | "
                f"{r['fnr_g0']:.3f}/{r['fnr_g1']:.3f} | {r['ppv_g0']:.3f}/{r['ppv_g1']:.3f} | "
                f"{r['ppv_ratio_g0']:.3f}/{r['ppv_ratio_g1']:.3f} | {r['sel_ratio_g0']:.3f}/{r['sel_ratio_g1']:.3f} | "
                f"{r['kappa']:.4f} |")
        lines.append("")
    return lines


def _time(t: float) -> str:
    for unit, sec in (("y", 31536000), ("mo", 2592000), ("d", 86400), ("h", 3600)):
        if t >= sec:
            return f"{t / sec:g} {unit}"
    return f"{t:g} s"
