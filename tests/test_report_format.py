"""One formatter per printed quantity, and claims that know their comparisons."""
from __future__ import annotations

import dataclasses
import math

from fairxbar_aihw.report import claims_registry
from fairxbar_aihw.report.claims_registry import CLAIMS, PRE, Claim, comparisons, table_pairs
from fairxbar_aihw.report.numbers import pm, synthetic_note, target_label


def test_pm_prints_every_report_convention():
    assert pm(0.12345, 0.0456) == "0.123 ± 0.046"
    assert pm(-0.0123, 0.004, 100, 2, signed=True) == "-1.23 ± 0.40"
    assert pm(0.0123, 0.004, 100, 1, signed=True) == "+1.2 ± 0.4"
    assert pm(0.5, math.nan) == "0.500"  # no interval (one seed): the mean alone
    assert pm(math.nan, 0.1) == "n/a"


def test_target_label_and_synthetic_banner():
    assert [target_label(t) for t in (None, math.nan, 0.05, 0.4, 1.0)] == ["all", "all", "5%", "40%", "100%"]
    assert synthetic_note(False) == []
    banner = synthetic_note(True)
    assert banner[0].startswith("> **SYNTHETIC DATA.**") and banner[1] == ""


def test_single_seed_table_pairs_follow_the_claims_comparisons():
    arms = ["VFA-Retrain", "Plain FT", "HWA (aihwkit)", "VA-Retrain"]
    assert table_pairs("F+A R [intersect]", arms, "F+A R") == [
        ("F+A R [intersect]", "FR"), ("F+A R [intersect]", "FR-matched [intersect]"),
        ("F+A R [intersect]", "random [intersect]")]
    assert table_pairs("F+A R", arms, "F+A R") == [
        ("F+A R", "FR"), ("F+A R", "FR-matched"), ("F+A R", "random"),
        ("VFA-Retrain", "F+A R"), ("HWA (aihwkit)", "F+A R"), ("VA-Retrain", "F+A R"),
        ("VFA-Retrain", "Plain FT"), ("VA-Retrain", "Plain FT")]
    assert table_pairs("F+A R", ["VA-Retrain"], "F+A R")[-1] == ("VA-Retrain", "F+A R")  # no control, no pair


def test_a_claim_registered_with_its_comparisons_is_tested(monkeypatch):
    """Adding a claim is its registry entry: its comparisons reach the claims rows and the paired table."""
    new = Claim("f", "F+A R beats uniform errors", "beats uniform", "beats", pairs=((claims_registry.FA, "uniform"),))
    monkeypatch.setitem(CLAIMS, "f", new)
    got = comparisons(["uniform", "F+A R"], [], "F+A R")
    assert ("f", "F+A R", "F+A R", "uniform") in got
    assert ("F+A R", "uniform") in table_pairs("F+A R", [], "F+A R")
    against_pre = dataclasses.replace(new, pairs=((claims_registry.FA, PRE),))
    monkeypatch.setitem(CLAIMS, "f", against_pre)
    assert ("f", "F+A R", "F+A R", PRE) in comparisons(["F+A R"], [], "F+A R")
    assert ("F+A R", PRE) not in table_pairs("F+A R", [], "F+A R")  # the paired table compares chip rows only


def test_noise_floor_paragraph_sets_the_floor_beside_the_gap_and_the_papers_effect():
    import pandas as pd

    from fairxbar_aihw.report.across_seeds import _noise_floor

    bases = [pd.Series({"eodds_floor": 0.1, "eodds": 0.4, "eodds_bc": 0.3, "k_eodds_floor": 0.5, "k_eodds": 1.0,
                        "k_eodds_bc": 0.8}),
             pd.Series({"eodds_floor": 0.3, "eodds": 0.6, "eodds_bc": 0.5, "k_eodds_floor": 0.7, "k_eodds": 1.4,
                        "k_eodds_bc": 1.2})]
    text = " ".join(_noise_floor(bases))
    assert "an EOdds of 0.200" in text and "raw 0.500 and bias-corrected 0.400: 40% of the raw gap" in text
    assert "is 0.128 here" in text  # 32% of the mean corrected gap
    text = " ".join(_noise_floor(bases, "k_"))
    assert "a worst-pair EOdds of 0.600" in text and "raw 1.200" in text and "50% of the raw gap" in text
    assert _noise_floor([pd.Series({"eodds": 0.4, "eodds_bc": 0.3})]) == []  # rows from before the floor
