"""Every stored metric in one place: its column, labels, direction, corrected form and how it reads
over groups. The store, the reports, the population section, the exports and the CLI read their
metric lists from here, so a new metric is one entry (plus its function and test).

Why a registry: the metric names used to be listed in a dozen places across seven files, and a
new metric touched all of them. A ``Metric`` names its columns; ``select(tag)`` gives the list
one output shows, in registry order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

VALUE_PREFIX = "k_"  # columns of the k-group reading (dataset.groups: all) beside the two-group ones
GROUP_SUFFIX = {0: " unpriv.", 1: " priv."}  # the paper's two groups in a label

OverGroups = Literal["pooled", "worst_pair", "range", "per_group", "gap"]


@dataclass(frozen=True)
class Metric:
    """One metric: ``column`` as stored (a per-group metric stores ``<column>_g<i>``)."""

    column: str
    label: str  # the report's words for it
    short: str  # a narrow table's words for it
    lower_is_better: bool
    over_groups: OverGroups  # pooled: on all rows; gap: between groups (k > 2: the worst pair); per_group: one each
    corrected: str | None = None  # its bias-corrected column (Cai & Low 2011; metrics/gap_bias.py)
    floor: str | None = None  # its noise floor column
    tags: frozenset[str] = field(default_factory=frozenset)  # which outputs list it (``select``)

    def group_column(self, group: int) -> str:
        """A per-group metric's column for ``group`` (``acc_g0``)."""
        return f"{self.column}_g{group}"

    def group_label(self, group: int, names: dict[int, str] | None = None, short: bool = True) -> str:
        """``acc unpriv.`` for the paper's two groups, ``acc I`` with the k-group reading's names."""
        base = self.short if short else self.label
        return f"{base} {names[group]}" if names is not None else base + GROUP_SUFFIX[group]


def _m(column: str, label: str, short: str | None = None, lower: bool = False, over: OverGroups = "pooled",
       corrected: str | None = None, floor: str | None = None) -> Metric:
    return Metric(column, label, short or label, lower, over, corrected, floor)


# Every metric a results row stores, in one place. ``over_groups``: how it reads over k groups
# (``metrics.compute``): gaps become the worst pair, per-group metrics get one column per group.
METRICS: dict[str, Metric] = {m.column: m for m in (
    _m("accuracy", "accuracy"),
    _m("f1_macro", "macro-F1"),
    _m("f1_micro", "pooled F1"),
    _m("kappa", "Cohen's kappa"),
    _m("auc", "macro AUC"),
    _m("eodds", "EOdds", lower=True, over="gap", corrected="eodds_bc", floor="eodds_floor"),
    _m("eopp0", "EOpp0", lower=True, over="gap", corrected="eopp0_bc", floor="eopp0_floor"),
    _m("eopp1", "EOpp1", lower=True, over="gap", corrected="eopp1_bc", floor="eopp1_floor"),
    _m("eodds_nd", "EOdds_nd", lower=True, over="gap"),
    _m("eopp0_nd", "EOpp0_nd", lower=True, over="gap"),
    _m("eopp1_nd", "EOpp1_nd", lower=True, over="gap"),
    _m("eodds_bc", "EOdds bias-corr.", lower=True, over="gap"),
    _m("eopp0_bc", "EOpp0 bias-corr.", lower=True, over="gap"),
    _m("eopp1_bc", "EOpp1 bias-corr.", lower=True, over="gap"),
    _m("eodds_floor", "EOdds noise floor", lower=True, over="gap"),
    _m("eodds_range", "EOdds range over groups", lower=True, over="range"),
    _m("eodds_worst_pair", "worst-pair EOdds", lower=True, over="worst_pair"),
    _m("acc_gap", "accuracy gap", lower=True, over="gap"),
    _m("f1_gap", "macro-F1 gap", lower=True, over="gap"),
    _m("acc", "accuracy", "acc", over="per_group"),
    _m("f1", "macro-F1", over="per_group"),
    _m("ppv", "macro PPV", over="per_group"),
    _m("ppv_ratio", "PPV ratio", over="per_group"),
    _m("sel_ratio", "selection-rate ratio", over="per_group"),
    _m("fpr", "macro FPR", lower=True, over="per_group"),
    _m("fnr", "macro FNR", lower=True, over="per_group"),
    _m("churn", "churn", lower=True),  # the share of test predictions a chip changed (metrics/churn.py)
    _m("churn_g", "churn", lower=True, over="per_group"),
)}

# What each output lists, in its order: a name is a metric's column, ``name@g`` a per-group metric
# for each of the paper's two groups (``acc@g`` → acc_g0, acc_g1). Checked against METRICS on import.
VIEWS: dict[str, tuple[str, ...]] = {
    # the scalar columns of a results row (metrics.flat_row) and `fairxbar-aihw metrics`' lines
    "headline": ("accuracy", "f1_macro", "f1_micro", "kappa", "eodds", "eopp0", "eopp1", "eodds_nd", "eopp0_nd",
                 "eopp1_nd", "eodds_bc", "eopp0_bc", "eopp1_bc", "eodds_floor", "acc_gap", "f1_gap"),
    # per-group columns of a results row
    "row_groups": ("acc", "f1", "ppv", "ppv_ratio", "sel_ratio", "fpr", "fnr"),
    # the pre-trained model's stratified test-set bootstrap (metrics/bootstrap.py)
    "bootstrap": ("f1_macro", "f1_micro", "accuracy", "eodds", "eopp0", "eopp1", "eodds_nd"),
    # a deployment against its reference (metrics/reference.py)
    "delta": ("eodds", "eopp0", "eopp1", "eodds_bc", "f1_macro", "f1_micro", "accuracy", "acc_gap"),
    # the chip population's distribution (report/population.py), and what its table shows
    "population": ("eodds", "eodds_bc", "f1_micro", "acc@g", "churn_g@g", "churn"),
    "population_shown": ("eodds", "eodds_bc", "f1_micro", "acc@g", "churn_g@g"),
    # the audit's per-group table (report/audit.py)
    "audit": ("acc@g", "f1@g", "f1_micro", "eodds", "eopp0"),
    # the across-seed model table (report/across_seeds.py)
    "models": ("f1_macro", "f1_micro", "eodds", "acc@g"),
    # a study report's per-cell summary (report/markdown.py)
    "cells": ("f1_macro", "f1_micro", "eodds", "eopp0", "eopp1", "eodds_nd", "acc@g"),
    # drift over time (report/markdown.py, report/figures.py)
    "drift": ("f1_macro", "eodds", "acc@g"),
    # the pre-trained model's table in a study report (report/markdown.py), where the row has them
    "pretrained": ("f1_macro", "f1_micro", "accuracy", "eodds", "eopp0", "eopp1", "eodds_nd", "eopp0_nd", "eopp1_nd",
                   "acc@g", "f1@g", "eodds_bc", "eopp0_bc", "eopp1_bc", "eodds_floor"),
}


def _column(metric: Metric, group: int | None) -> str:
    if group is None:
        return metric.column
    return f"{metric.column}{'' if metric.column.endswith('_g') else '_g'}{group}"


def view(name: str, long: bool = False) -> list[tuple[str, str, Metric]]:
    """The (column, label, metric) entries output ``name`` lists, in its order, per-group metrics
    expanded to the paper's two groups (``acc unpriv.``, ``acc priv.``); ``long``: the full labels."""
    out = []
    for item in VIEWS[name]:
        column, per_group = item.removesuffix("@g"), item.endswith("@g")
        metric = METRICS[column]
        label = metric.label if long else metric.short
        if not per_group:
            out.append((column, label, metric))
            continue
        for g in (0, 1):
            out.append((_column(metric, g), label + GROUP_SUFFIX[g], metric))
    return out


def columns(name: str) -> tuple[str, ...]:
    """The stored columns output ``name`` lists, in its order."""
    return tuple(column for column, _, _ in view(name))


def _check() -> None:
    """Every view names registered metrics: a typo fails on import, not in a report."""
    for name, items in VIEWS.items():
        unknown = [i for i in items if i.removesuffix("@g") not in METRICS]
        if unknown:
            raise KeyError(f"metric view {name!r} names unregistered metrics {unknown}")


_check()
