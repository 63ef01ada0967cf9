"""Report figures (matplotlib, Agg) in the spirit of the paper's Figs. 4–8, plus drift curves."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.layout_engine import TightLayoutEngine  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..metrics import registry  # noqa: E402
from ..safe_files import write_atomic  # noqa: E402
from ..study.keys import fraction_key, parse_fraction_key  # noqa: E402
from .stats import summarise  # noqa: E402
from .styles import color, ordered  # noqa: E402


def _save(fig: plt.Figure, path: Path, rect: tuple[float, float, float, float] | None = None) -> str:
    """Lay the figure out tightly (within ``rect``), render it, close it, write it with ``write_atomic``
    (never through a link planted at ``path``).

    Why not ``fig.tight_layout``: it leaves a placeholder layout engine on the figure, and a figure
    with any layout engine is drawn twice by ``savefig`` (once without output, then for real).
    Running the same tight-layout engine once without attaching it gives the same subplot
    positions, so ``savefig`` draws once and the PNG is unchanged."""
    try:
        TightLayoutEngine(rect=rect).execute(fig)
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=110, metadata={"Software": None})
    finally:
        plt.close(fig)
    write_atomic(path, png.getbuffer())
    return path.name


def rank_scatter(sal: dict[str, Any], out: Path) -> str:
    """Fig. 4: each weight's fairness rank vs accuracy rank for the first/middle/last layer."""
    ranks = sal["ranks"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, label in zip(axes, ("first", "middle", "last")):
        r = ranks[label]
        ax.scatter(r["accuracy_rank"], r["fairness_rank"], s=2, alpha=0.35)
        ax.set_title(f"{label} layer ({r['layer']})")
        ax.set_xlabel("accuracy rank (0 = most important)")
        ax.set_ylabel("fairness rank (0 = most negative s)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    return _save(fig, out / "fig_ranks.png")


def layer_fractions(sal: dict[str, Any], targets: list[float], out: Path) -> str:
    """Fig. 5: fraction of each layer's weights targeted by FR only vs each F+A R reading."""
    layers = sal["layers"]
    fig, axes = plt.subplots(1, len(targets), figsize=(max(6, 0.6 * len(layers) + 3) * len(targets) ** 0.5, 3.8),
                             squeeze=False)
    x = np.arange(len(layers))
    for ax, target in zip(axes[0], targets):
        methods = ordered(m for m, x in map(parse_fraction_key, sal["layer_fractions"]) if x == target)
        width = 0.8 / max(len(methods), 1)
        for i, method in enumerate(methods):
            fr = sal["layer_fractions"][fraction_key(method, target)]
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, [100 * fr[layer] for layer in layers], width=width,
                   label=method, color=color(method), hatch="//" if "[" in method else None)
        ax.set_xticks(x, layers, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("targeted weights (%)")
        ax.set_title(f"target x = {100 * target:g}%")
        ax.legend()
    return _save(fig, out / "fig_layer_fraction.png")


def clouds(sweep: pd.DataFrame, base: pd.Series, target: float, out: Path) -> str:
    """Fig. 6: F1 vs EOdds of every Monte-Carlo chip, per method, for each preset × intensity."""
    sel = sweep[(sweep["target"].isna()) | (sweep["target"] == target)]
    panels = sel[["preset", "intensity"]].drop_duplicates().values.tolist()
    ncol = min(4, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False)
    for ax, (preset, intensity) in zip(axes.flat, panels):
        part = sel[(sel["preset"] == preset) & (sel["intensity"] == intensity)]
        for method in ordered(part["method"]):
            m = part[part["method"] == method]
            if len(m):
                ax.scatter(m["eodds"], m["f1_macro"], s=10, alpha=0.6, label=method, color=color(method))
        ax.scatter([base["eodds"]], [base["f1_macro"]], marker="*", s=160, color="black", label="pre-trained")
        ax.set_title(f"{preset}, intensity {intensity:g}, x={100 * target:g}%", fontsize=9)
        ax.set_xlabel("EOdds (lower = fairer)")
        ax.set_ylabel("macro-F1")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    return _save(fig, out / "fig_clouds.png")


def intensity_sensitivity(sweep: pd.DataFrame, base: pd.Series, target: float, out: Path) -> str:
    """Fig. 7: mean F1 and EOdds (95% CI) vs error intensity, per method and preset."""
    sel = sweep[(sweep["target"].isna()) | (sweep["target"] == target)]
    presets = list(dict.fromkeys(sel["preset"]))
    fig, axes = plt.subplots(len(presets), 2, figsize=(10, 3.4 * len(presets)), squeeze=False)
    for row, preset in zip(axes, presets):
        part = sel[sel["preset"] == preset]
        summ = summarise(part, ["method", "intensity"], ["f1_macro", "eodds"])
        for method in ordered(summ["method"]):
            m = summ[summ["method"] == method].sort_values("intensity")
            if len(m):
                for ax, metric in zip(row, ("f1_macro", "eodds")):
                    ax.errorbar(m["intensity"], m[metric], yerr=m[f"{metric}_ci"], marker="o", capsize=3,
                                label=method, color=color(method))
        for ax, metric, label in zip(row, ("f1_macro", "eodds"), ("macro-F1", "EOdds")):
            ax.axhline(base[metric], color="black", ls="--", lw=1, label="pre-trained")
            ax.set_xlabel(f"{preset} intensity")
            ax.set_ylabel(label)
            ax.set_title(f"{preset}: {label} vs intensity (x={100 * target:g}%)", fontsize=9)
        row[0].legend(fontsize=7)
    return _save(fig, out / "fig_intensity.png")


def tradeoff(summary: pd.DataFrame, base: pd.Series, out: Path) -> str:
    """Fig. 8: mean F1 vs mean EOdds (95% CI both ways) of every sweep cell, per preset."""
    presets = list(dict.fromkeys(summary["preset"]))
    ncol = min(3, len(presets))
    nrow = int(np.ceil(len(presets) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.2 * nrow), squeeze=False)
    for ax in list(axes.flat)[len(presets):]:
        ax.axis("off")
    for ax, preset in zip(axes.flat, presets):
        part = summary[summary["preset"] == preset]
        for method in ordered(part["method"]):
            m = part[part["method"] == method]
            if len(m):
                ax.errorbar(m["eodds"], m["f1_macro"], xerr=m["eodds_ci"], yerr=m["f1_macro_ci"], fmt="o",
                            capsize=2, label=method, color=color(method), alpha=0.85)
        ax.scatter([base["eodds"]], [base["f1_macro"]], marker="*", s=180, color="black", label="pre-trained",
                   zorder=5)
        ax.set_xlabel("EOdds (lower = fairer)")
        ax.set_ylabel("macro-F1")
        ax.set_title(f"{preset}: every intensity and target", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, out / "fig_tradeoff.png")


def drift_curves(drift: pd.DataFrame, base: pd.Series, out: Path) -> str:
    """F1, EOdds and per-group accuracy vs time after programming, mean with 95% CI bands."""
    presets = list(dict.fromkeys(drift["preset"]))
    fig, axes = plt.subplots(len(presets), 3, figsize=(14, 3.6 * len(presets)), squeeze=False)
    for row, preset in zip(axes, presets):
        part = drift[drift["preset"] == preset]
        summ = summarise(part, ["method", "t_inference"], list(registry.columns("drift")))
        for method in ordered(summ["method"]):
            m = summ[summ["method"] == method].sort_values("t_inference")
            if not len(m):
                continue
            c = color(method)
            for ax, metric in zip(row[:2], ("f1_macro", "eodds")):
                ax.plot(m["t_inference"], m[metric], marker="o", color=c, label=method)
                ax.fill_between(m["t_inference"], m[metric] - m[f"{metric}_ci"], m[metric] + m[f"{metric}_ci"],
                                color=c, alpha=0.15)
            row[2].plot(m["t_inference"], m["acc_g1"], marker="o", color=c, label=f"{method} privileged")
            row[2].plot(m["t_inference"], m["acc_g0"], marker="s", ls="--", color=c, label=f"{method} unprivileged")
        for ax, metric, label in zip(row, ("f1_macro", "eodds", None), ("macro-F1", "EOdds", "group accuracy")):
            ax.set_xscale("log")
            ax.set_xlabel("time after programming (s)")
            ax.set_ylabel(label)
            ax.set_title(f"{preset}: {label} vs time", fontsize=9)
            if metric:
                ax.axhline(base[metric], color="black", ls=":", lw=1, label="pre-trained")
        row[0].legend(fontsize=7)
        row[2].legend(fontsize=6, ncol=2)
    return _save(fig, out / "fig_drift.png")


def claims_forest(table: pd.DataFrame, per_seed: pd.DataFrame, out: Path) -> str:
    """Forest plot of the claims table: each seed's paired difference with its chip interval (dots)
    and the mean over seeds with its t-interval over seeds (black diamond), for ΔEOdds and ΔF1.
    Where the dots of different seeds fall on both sides of zero, the answer belongs to the training run.
    Average rows only: the per-seed values behind a best-setting row are one setting's."""
    if "scope" in table:
        table = table[table["scope"] == "average"]
    labels = [f"({r.claim}) {r.comparison} · {r.preset}" for r in table.itertuples()]
    seeds = sorted(per_seed["seed"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.42 * len(labels) + 1.8), sharey=True)
    for ax, (metric, scale, title) in zip(axes, (("d_eodds", 1.0, "ΔEOdds (A − B; < 0 = A fairer)"),
                                                 ("d_f1", 100.0, "ΔF1 pooled, points (A − B; < 0 = A less accurate)"))):
        for i, r in enumerate(table.itertuples()):
            mine = per_seed[(per_seed["claim"] == r.claim) & (per_seed["reading"] == r.reading)
                            & (per_seed["comparison"] == r.comparison) & (per_seed["preset"] == r.preset)]
            for k, seed in enumerate(seeds):
                p = mine[mine["seed"] == seed]
                if len(p):
                    y = i + 0.12 + (k - (len(seeds) - 1) / 2) * min(0.12, 0.5 / len(seeds))
                    ax.errorbar(scale * p[metric].iloc[0], y, xerr=scale * p[f"{metric}_ci"].iloc[0], fmt="o", ms=3,
                                lw=0.8, color=plt.cm.tab10(k % 10), label=f"seed {seed} (chip CI)" if i == 0 else None)
            half = getattr(r, f"{metric}_ci")
            if len(seeds) > 1:
                ax.errorbar(scale * getattr(r, metric), i - 0.22, xerr=0 if pd.isna(half) else scale * half,
                            fmt="D", ms=5, color="k", lw=1.6, label="mean over seeds (t CI)" if i == 0 else None)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel(title)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylim(len(labels) - 0.5, -0.6)
        ax.grid(axis="x", alpha=0.3)
    axes[1].legend(loc="best", fontsize=7, framealpha=0.8)
    return _save(fig, out / "fig_claims_forest.png")


def yield_curves(table: pd.DataFrame, out: Path) -> str:
    """Fairness yield vs intensity, one panel per technology (rows) and target (columns), one line
    per targeting method; error bars = the exact binomial interval. Uniform errors (no target)
    appear in every column as the reference. Methods are dodged sideways so bars do not overlap."""
    presets = list(dict.fromkeys(table["preset"]))
    targets = sorted(table["target"].dropna().unique()) or [np.nan]
    methods = ordered(table["method"])
    fig, axes = plt.subplots(len(presets), len(targets), figsize=(4.6 * len(targets) + 2.4, 3.3 * len(presets)),
                             squeeze=False)
    for row, preset in zip(axes, presets):
        part = table[table["preset"] == preset]
        levels = sorted(part["intensity"].unique())
        for ax, target in zip(row, targets):
            sel = part[part["target"].isna() | (part["target"] == target)]
            shown = [m for m in methods if (sel["method"] == m).any()]
            for i, method in enumerate(shown):
                m = sel[sel["method"] == method].sort_values("intensity")
                dodge = (i - (len(shown) - 1) / 2) * 0.6 / len(shown)
                x = np.array([levels.index(v) for v in m["intensity"]]) + dodge
                y = 100 * m["yield"].to_numpy()
                err = 100 * np.vstack([m["yield"] - m["yield_lo"], m["yield_hi"] - m["yield"]])
                ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=2, lw=1.2, label=method, color=color(method),
                            ls="--" if "[" in method else "-")
            ax.set_xticks(range(len(levels)), [f"{v:g}" for v in levels])
            ax.set_xlim(-0.6, len(levels) - 0.4)
            ax.set_ylim(-3, 103)
            ax.grid(axis="y", alpha=0.3)
            ax.set_xlabel(f"{preset} intensity")
            ax.set_ylabel("chips meeting the spec (%)")
            ax.set_title(f"{preset}" + ("" if pd.isna(target) else f", target x = {100 * target:g}%"), fontsize=9)
    right = 1 - 2.3 / (4.6 * len(targets) + 2.4)  # the legend's strip
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_legend_handles_labels()[0]}
    fig.legend([handles[m] for m in methods if m in handles], [m for m in methods if m in handles],
               loc="center left", bbox_to_anchor=(right, 0.5), fontsize=7, title="method\n(bars: 95% exact CI)",
               title_fontsize=7)
    fig.suptitle("Fairness yield: share of chips meeting the spec", fontsize=10)
    top = 1 - 0.45 / (3.3 * len(presets))  # half an inch for the title, whatever the figure's height
    return _save(fig, out / "fig_yield.png", rect=(0, 0, right, top))


def group_heatmap(change: pd.DataFrame, out: Path) -> str:
    """Each group's accuracy change against the digital model (points; rows: cells, columns: groups),
    as a diverging heatmap with the numbers written in: which technology and method hurts which
    group shows at a glance."""
    values = 100 * change.to_numpy(dtype=float)
    limit = max(1.0, float(np.nanmax(np.abs(values)))) if values.size else 1.0
    fig, ax = plt.subplots(figsize=(1.0 * change.shape[1] + 3.6, 0.42 * change.shape[0] + 1.6))
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(change.shape[1]), [str(c) for c in change.columns], rotation=30, ha="right")
    ax.set_yticks(range(change.shape[0]), [str(i) for i in change.index])
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, f"{v:+.1f}", ha="center", va="center", fontsize=8,
                color="white" if abs(v) > 0.6 * limit else "black")
    fig.colorbar(image, ax=ax, label="accuracy change vs digital model (points)")
    ax.set_title("Accuracy change per group, mean over chips and seeds")
    return _save(fig, out / "fig_groups.png")
