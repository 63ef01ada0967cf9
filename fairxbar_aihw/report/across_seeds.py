"""The report of a study over several training seeds: ``docs/reports/<study>/README.md``.

Claims first (judged across seeds), then what varies between seeds: the pre-trained models with
their test-set bootstrap intervals, each claim setting by setting, the retrained arms. Every
seed's full report sits in ``seed-N/``. Built from the results database alone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..metrics import improvement, registry
from ..provenance import provenance_note
from ..safe_files import safe_mkdir, write_atomic
from ..study.schema import StudyConfig
from . import groups as group_table
from . import population, replication
from .markdown import claims_parts, incomplete_note
from ..study.keys import RowKind
from .numbers import compute_cost, pm, synthetic_note, target_label
from .rows import baseline_row, of_kind
from .stats import across_seeds

MODEL_METRICS = tuple((column, label) for column, label, _ in registry.view("models"))


def _provenance(metas: dict[int, dict[str, Any]], n: int) -> list[str]:
    envs = {s: m.get("environment") or {} for s, m in metas.items()}
    machines = {(e.get("cpu"), e.get("cpu_capability"), e.get("torch"), e.get("torch_threads")) for e in envs.values()}
    lines = [provenance_note(next(iter(envs.values())), seeds=n)]
    if len(machines) > 1:
        lines.append("> **The seeds ran on different machines**: " + "; ".join(
            f"seed {s}: {e.get('cpu')} ({e.get('cpu_capability')}), torch {e.get('torch')}, "
            f"{e.get('torch_threads')} thread(s)" for s, e in sorted(envs.items())))
    return lines + [""]


def _models(frames: dict[int, pd.DataFrame], metas: dict[int, dict[str, Any]], prefix: str = "") -> list[str]:
    """Each seed's pre-trained model with its test-set interval; the mean over seeds with its t-interval."""
    lines = ["## Pre-trained models, one per seed", "",
             "[brackets]: 95% stratified bootstrap over test images (that seed's test-set uncertainty); "
             "across seeds: mean ± 95% t-interval over seeds.", "",
             "| seed | " + " | ".join(label for _, label in MODEL_METRICS) + " | report |",
             "|---|" + "---|" * len(MODEL_METRICS) + "---|"]
    bases = {s: baseline_row(df) for s, df in frames.items()}
    for s, b in sorted(bases.items()):
        boot = (metas[s].get("baseline") or {}).get("test_bootstrap") or {}
        cells = [f"{b[k]:.3f}" + (f" [{boot[k][0]:.3f}, {boot[k][1]:.3f}]" if k in boot else "")
                 for k, _ in MODEL_METRICS]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | [seed-{s}](seed-{s}/README.md) |")
    across = [across_seeds([b[k] for b in bases.values()]) for k, _ in MODEL_METRICS]
    lines.append("| across | " + " | ".join(pm(m, h) for m, h, _ in across) + " | |")
    return lines + [""] + _noise_floor(list(bases.values()), prefix)


PAPER_HEADLINE = 0.32  # claim (e)'s "up to 32%" (report/claims_registry.py), the effect size set beside the floor


def _noise_floor(bases: list[pd.Series], prefix: str = "") -> list[str]:
    """The test set's noise floor beside the pre-trained gap and the paper's effect on it: how much of
    the raw gap is sampling alone, and how small an effect the study's test set can resolve
    (``prefix``: ``k_`` for the worst-pair gap of a study that reads every group)."""
    if not all(prefix + "eodds_floor" in b and not pd.isna(b[prefix + "eodds_floor"]) for b in bases):
        return []  # rows stored before the floor existed
    floor, raw, corrected = (float(np.mean([b[prefix + k] for b in bases])) for k in ("eodds_floor", "eodds",
                                                                                         "eodds_bc"))
    gap = "a worst-pair EOdds" if prefix else "an EOdds"
    return [f"**Test-set noise floor.** With no true gap, this test set alone gives {gap} of {floor:.3f} (mean over "
            f"seeds; the groups sharing every rate), against the pre-trained models' raw {raw:.3f} and bias-corrected "
            f"{corrected:.3f}: {100 * floor / raw:.0f}% of the raw gap is sampling. The paper's headline, −32% of the "
            f"gap, is {PAPER_HEADLINE * max(corrected, 0):.3f} here; the claims table's *MDE (80%)* column says "
            "whether these seeds and chips could see an effect that size.", ""]


def _settings(table: pd.DataFrame) -> list[str]:
    """Every claim setting by setting: each seed's chip-level value and the interval over seeds."""
    lines = ["## Each claim setting by setting", "",
             "Per seed: ΔEOdds (A − B, the claims table's gap metric) ± 95% chip interval; across seeds: mean ± "
             "95% t-interval over seeds.", "",
             "| claim | comparison | preset | intensity | target | per seed ΔEOdds | across: ΔEOdds | across: ΔF1 "
             "pooled (pts) | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| ({r.claim}) | {r.comparison} | {r.preset} | {r.intensity:g} | {target_label(r.target)} | "
                     f"{r.seed_values} | {pm(r.d_eodds, r.d_eodds_ci, signed=True)} | "
                     f"{pm(r.d_f1, r.d_f1_ci, 100, 2, signed=True)} | {r.verdict}"
                     f"{' (seeds disagree)' if r.seeds_disagree else ''} |")
    return lines + [""]


def _arms(frames: dict[int, pd.DataFrame]) -> list[str]:
    """Retrained arms on ideal hardware: EOdds and pooled F1 change against each seed's own model."""
    rows = []
    for s, df in frames.items():
        base = baseline_row(df)
        for _, r in of_kind(df, RowKind.RETRAIN_IDEAL).iterrows():
            rows.append({"seed": s, "arm": r["method"], "d_eodds": r["eodds"] - base["eodds"],
                         "d_f1": r["f1_micro"] - base["f1_micro"], "rel": improvement(base["eodds"], r["eodds"])})
    if not rows:
        return []
    df = pd.DataFrame(rows)
    lines = ["## Retrained arms on ideal hardware, across seeds", "",
             "Arm − its seed's pre-trained model (no chip errors). EOdds gain = share of the pre-trained EOdds "
             "removed (the paper reports up to 32% for VFA-Retrain at < 1 point of F1).", "",
             "| arm | per seed EOdds gain | ΔEOdds | ΔF1 pooled (pts) | EOdds gain |", "|---|---|---|---|---|"]
    for arm, part in df.groupby("arm", sort=False):
        eo, f1, rel = (across_seeds(part[k]) for k in ("d_eodds", "d_f1", "rel"))
        lines.append(f"| {arm} | " + ", ".join(f"{100 * v:+.0f}%" for v in part["rel"]) + " | "
                     f"{pm(eo[0], eo[1], signed=True)} | {pm(f1[0], f1[1], 100, 2, signed=True)} | "
                     f"{pm(rel[0], rel[1], 100, 1, signed=True)}% |")
    return lines + [""]


STATISTICS = """## How the intervals are computed

- **Chips** (within a seed): methods share chip seeds, so A − B is paired chip by chip; the 95% interval
  is a t-interval over chips. It is conditional on that seed's trained model.
- **Seeds** (the verdicts): each seed's mean paired difference is one replicate of the whole
  experiment; the verdict uses their mean ± 95% t-interval with n_seeds − 1 degrees of freedom
  (scipy.stats). A hierarchical bootstrap over seeds and chips was not used: with 3–5 seeds it has
  10–126 distinct resamples of the seed level and its percentile interval is too narrow, while the
  t-interval is exact for normal per-seed means and honest about having few of them.
- **Test images** (the pre-trained models): a stratified bootstrap within group × class strata, so
  the test split keeps its balanced counts in every resample.
- **Relative change**: the mean ΔEOdds over the mean pre-trained gap across seeds, with Fieller's
  interval for a ratio of means (Fieller, J. R. Statist. Soc. B 1954): a seed with a small or
  negative base is neither divided by alone nor dropped.
- **Multiplicity**: each claim's rows of one scope form a family; *holds* / *does not hold* /
  *equivalent* use Holm-adjusted p-values within it (Holm, Scand. J. Statist. 1979), and a row
  significant only before adjustment is *suggestive*. A *best* row also pays for choosing its
  setting (Bonferroni over the settings it was chosen among).
"""


def write_across_seeds(name: str, cfg: StudyConfig, frames: dict[int, pd.DataFrame],
                       metas: dict[int, dict[str, Any]], out: Path, incomplete: str = "") -> Path:
    """Write the across-seed README (and its CSVs and forest plot) into ``out``; ``incomplete``
    (what the seeds lack, and how to finish them) goes on top."""
    safe_mkdir(out.parent, out.name)
    seeds = sorted(frames)
    synthetic = any((m.get("dataset") or {}).get("synthetic") for m in metas.values())
    lines = [f"# Study `{name}` across {len(seeds)} training seeds", ""] + incomplete_note(incomplete)
    lines += synthetic_note(synthetic)
    lines += _provenance(metas, len(seeds))
    lines += [cfg.description.strip(), "",
              f"Seeds {seeds}: each a full replicate (data split or generation, weight init, data order, curvature "
              "probes, chips), each with its own report in `seed-N/`.", ""]
    claim_lines, by_setting = claims_parts(frames, cfg, out)
    lines += claim_lines + replication.readme_lines(out, seeds)
    names = group_table.value_names(metas[seeds[0]].get("groups"))
    lines += population.section(frames, cfg.yield_spec, out, cfg.gap_column(cfg.claims.gap), names)
    lines += group_table.section(frames, names, out) if names else []
    lines += _models(frames, metas, cfg.gap_column(""))
    if len(by_setting):
        lines += _settings(by_setting)
    lines += _arms(frames)
    lines += [STATISTICS]
    timings = {s: sum((m.get("timings") or {}).values()) for s, m in metas.items()}
    lines += ["## Reproduce", "", f"`fairxbar-aihw study {cfg.name}` (resumes seed by seed; `--seeds 0,1` picks "
              "seeds; `--fresh` starts over).", "",
              "Compute per seed (first computation, all stages; an eval-equivalent is one digital test-set "
              "evaluation of the model, timed in the same run): " + ", ".join(
                  f"seed {s}: {compute_cost(t, metas[s].get('eval_seconds'))}" for s, t in sorted(timings.items()))
              + f"; summed over the seeds: {sum(timings.values()):,.0f} s (seeds computed side by side take about "
              "that divided by the workers in wall time).", "",
              "<details><summary>Resolved config</summary>", "", "```yaml",
              yaml.safe_dump({k: v for k, v in cfg.as_dict().items() if k not in ("quick", "seed")},
                             sort_keys=True).strip(), "```", "", "</details>", ""]
    return write_atomic(out / "README.md", "\n".join(lines).encode("utf-8"))
