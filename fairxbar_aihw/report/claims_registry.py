"""FairXbar's claims (Mugdho, Guo, Rogers, Zhao, Shi and Wang, "FairXbar: Improving the Fairness of Deep
Neural Networks with Non-Ideal In-Memory Computing Hardware"; "the paper"), as a registry: what each
claim says, how it is decided, the paper's magnitude it is held against, and the (A, B) rows it
compares over identical chips.

Why a registry: a new claim is one ``Claim`` in ``CLAIMS``; the claims table (``claims_table``),
its text (``claims_text``), the single-seed paired table and the across-seed verdicts follow from it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..saliency.methods import MethodLabel

PRE = "pre-trained"
CONTROL = "Plain FT"  # the fine-tune control: the same batches and selection, no errors, no fairness term
RETRAINED = ("VA-Retrain", "VFA-Retrain")  # the paper's retraining arms


# Placeholders in a claim's comparisons: ``{fa}`` an F+A R reading, ``<method>{rule}`` that method at the
# reading's F+A R rule ("FR-matched [intersect]" beside "F+A R [intersect]"), ``{arm}`` one of the claim's
# retrained arms, ``{reading}`` the reading the arms retrain at.
FA, ARM, READING, RULE = "{fa}", "{arm}", "{reading}", "{rule}"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: what it says, its short name in tables, how a (ΔF1, Δgap) interval
    pair decides it, the paper's magnitude it is held against (relative gap change), if any, and
    its comparisons: the (A, B) rows it pairs over identical chips, once per F+A R reading the run
    has (``{fa}``), once per retrained arm of ``arms`` it has (``{arm}``), or once."""

    key: str
    text: str
    short: str
    kind: str  # lowers: Δgap < 0 | beats: the paired verdict is "better" | cheap: Δgap < 0 at < 1 pt F1
    paper_rel: float | None = None
    paper_source: str = ""
    pairs: tuple[tuple[str, str], ...] = ()
    arms: tuple[str, ...] = ()

    @property
    def per(self) -> str:
        """What the claim's comparisons range over: "reading", "arm" or "" (one comparison set)."""
        names = {n for pair in self.pairs for n in pair}
        return "arm" if ARM in names else "reading" if FA in names else ""

    def expand(self, reading: str, arm: str = "", arm_reading: str = "") -> list[tuple[str, str]]:
        """The claim's (A, B) row labels for one F+A R reading (and one arm)."""
        rule = MethodLabel.split(reading).rule
        fill = {FA: reading, ARM: arm, READING: arm_reading}

        def label(name: str) -> str:  # f"FR-matched{RULE}": that method at the reading's rule
            return MethodLabel(name.removesuffix(RULE), rule).text() if name.endswith(RULE) else fill.get(name, name)
        return [tuple(label(n) for n in pair) for pair in self.pairs]


CLAIMS = {c.key: c for c in (
    Claim("a", "errors on FR-targeted weights lower EOdds (the paper: at an F1 cost)", "FR errors lower EOdds",
          "lowers", pairs=(("FR", PRE),)),
    Claim("b", "F+A R beats FR at matched error count (FR-matched: FR's weights at F+A R's per-layer counts)",
          "F+A R beats FR", "beats", pairs=((FA, f"FR-matched{RULE}"),)),
    Claim("c", "VA/VFA-Retrain beat F+A R and the plain fine-tune control", "retraining beats", "beats",
          pairs=((ARM, READING), (ARM, CONTROL)), arms=RETRAINED),
    Claim("c'", "VA/VFA-Retrain lower EOdds below the pre-trained model at < 1 pooled-F1 point "
          "(the paper: up to 32%)", "retraining is fairer, < 1 pt", "cheap", -0.32,
          "§VI *Summary of performance*: VA/VFA-Retrain show \"a significant 32% improvement at the expense of "
          "less than 1% accuracy degradation\"", pairs=((ARM, PRE),), arms=RETRAINED),
    Claim("d", "targeted errors (F+A R) beat the same number of random errors", "targeted beats random", "beats",
          pairs=((FA, f"random{RULE}"),)),
    Claim("e", "F+A R lowers EOdds below the pre-trained model at < 1 pooled-F1 point (the paper's headline)",
          "F+A R is fairer, < 1 pt", "cheap", -0.32,
          "abstract and §VII: device errors \"deliver improved fairness (up to 32% improvement) with ... less "
          "than 1% loss\" of accuracy", pairs=((FA, PRE),)),
)}
GAPS = {"eodds_bc": "bias-corrected EOdds", "eodds": "raw EOdds (the paper's printed sum)",
        "k_eodds_bc": "bias-corrected worst-pair EOdds over every group",
        "k_eodds": "raw worst-pair EOdds over every group (the paper's sum between the two groups furthest apart)"}
SCOPES = {"average": "each error type's settings averaged chip by chip",
          "best": "the setting with the most favourable mean, its interval simultaneous over the settings it was "
                  "chosen among (Bonferroni); against the paper it is *ruled out* only when every setting is, each by its own "
                  "95% interval (an intersection-union test)",
          "setting": "one setting"}


def comparisons(methods: list[str], arms: list[str], arm_reading: str) -> list[tuple[str, str, str, str]]:
    """(claim, reading, A, B) for every claim the run's methods and arms can test, from each claim's
    registered comparisons: the claims made once, then each F+A R reading's, then each arm's."""
    readings = [m for m in methods if MethodLabel.split(m).is_fa]
    out = [(c.key, "—", a, b) for c in CLAIMS.values() if not c.per for a, b in c.expand("") if a in methods]
    for reading in readings:
        out += [(c.key, reading, a, b) for c in CLAIMS.values() if c.per == "reading" for a, b in c.expand(reading)]
    for arm in dict.fromkeys(a for c in CLAIMS.values() if c.per == "arm" for a in c.arms):
        if arm in arms:
            out += [(c.key, arm_reading, a, b) for c in CLAIMS.values() if c.per == "arm"
                    for a, b in c.expand(arm_reading, arm, arm_reading)]
    return out


def table_pairs(reading: str, arms: list[str], arm_reading: str) -> list[tuple[str, str]]:
    """The single-seed report's paired table for one F+A R reading: it against FR (context), then its
    claims' comparisons that pair two chip rows (none against the pre-trained model); for the reading
    the arms retrain at, every retrained arm but the control against it (claim c's first comparison,
    the arms outside claim c as context), then claim c's arms against the control."""
    own = [pair for c in CLAIMS.values() if c.per == "reading" for pair in c.expand(reading) if PRE not in pair]
    pairs = [(reading, "FR")] + own
    if reading != arm_reading:
        return pairs
    claim_c = CLAIMS["c"]
    return pairs + [(arm, reading) for arm in arms if arm != CONTROL] + [
        (arm, CONTROL) for arm in arms if arm in claim_c.arms and CONTROL in arms]
