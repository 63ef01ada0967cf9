"""Rate-gap metrics without their finite-sample bias, and the test set's noise floor.

Why: EOdds, EOpp0 and EOpp1 sum absolute differences |r̂¹ − r̂⁰| of per-group rates. On a finite
test set each estimated difference is Δ + noise, and E|Δ + noise| > |Δ| (Jensen): with no true gap
at all the sum is positive (≈ 0.17 for 4 classes and 1,200 test images, ≈ half the published
EOdds on Fitzpatrick-17k's 114 classes), and chip errors that only add noise raise it further.

The estimator: each term Δ̂ = r̂¹ − r̂⁰ with σ̂ from the binomial variances of the two rates. No
unbiased estimator of |Δ| exists, but the best polynomial approximation P of |x| on [−Mσ, Mσ]
has one when Δ̂ ~ N(Δ, σ²), because σᵏ·Heₖ(Δ̂/σ) (probabilists' Hermite polynomials) is unbiased
for Δᵏ. After T. T. Cai and M. G. Low, "Testing composite hypotheses, Hermite polynomials and
optimal estimation of a nonsmooth functional", The Annals of Statistics 39(2):1012–1041, 2011
(doi:10.1214/10-AOS849), a term uses that unbiased polynomial estimate where |Δ̂| ≤ Tσ̂ (where the
absolute value is biased) and |Δ̂| itself beyond (where it is not). Degree 4, M = 2 and T = 2 are
this project's choice for one term's worst-case bias, not the paper's asymptotic one.

What it guarantees, measured (``benchmarks/gap_bias_bounds.py``, docs/user-guide.md,
"Bias-corrected gaps"), in units of the term's true σ:

- Design model, Δ̂ ~ N(Δ, σ²) with σ known: a term's bias lies in [−0.208σ, +0.204σ] at every Δ,
  against +0.80σ for |Δ̂| at Δ = 0.
- Binomial counts with the plug-in σ̂ (what this module computes): within ±0.22σ while each rate's
  expected count n·min(p, 1 − p) is about 15 or more; 0.23–0.25σ at 7.5–9 (a rate of 0.02 on 450
  negatives, 0.005 on 1,600, 0.05 on 150, 0.5 on 15); 0.28–0.29σ at 2.5–3 (0.02 on 150, 0.05 on
  50); 0.75–0.84σ at 1 or less (rare classes: no better than |Δ̂|'s 0.72–0.74σ there). The worst
  bias is negative, near Δ ≈ 0.9σ; at Δ = 0 it is positive (+0.20σ), and under 0.01σ beyond 4σ.
- A difference of two gaps (A − B): a term's bias is bias(Δ_A) − bias(Δ_B), up to the bias's
  range over Δ: 0.41σ (0.41–0.43σ for expected counts ≥ 2.5, 0.81–0.87σ at 1 or less), against
  0.80σ for |Δ̂|. The correction halves that bias; it does not remove it.
- A sum adds its terms' biases. A small real gap puts each term near Δ ≈ σ, where all are
  negative: 4 classes, 150 test rows per class and group, accuracies 0.81 vs 0.85 on every class:
  EOdds_bc 0.160 against a large-sample 0.213 (−25%; raw +21%). With no gap it reads +0.05 (raw
  +0.20); large gaps are read without bias.
- Not guaranteed: unbiasedness, a sign, anything at tiny expected counts, or a spread below |Δ̂|'s
  (a standard deviation up to 1.32σ against σ in the design model).

A one-vs-rest FPR's σ̂ is binomial over the class's negatives. A test set with fixed rows per class
samples it as a sum of per-class binomials, which vary less when confusions into the class come
from one other class: σ̂ is then 4–14% too large with 4 classes (accuracy 0.9–0.7) and 11–27% with
10 (0.8–0.6), exact when confusions spread. A stratified σ̂ that fixes this moves EOdds_bc by
0.006 on average at the demo's shape, closer at small gaps but further from 0 with no gap, so it
is not used. A corrected term can be negative; the sum is left unclipped so that the terms' biases
do not add a clipping bias.

The noise floor is the expected raw sum when the groups share every rate (pooled per class):
Σ σ₀·√(2/π), the mean of a folded normal at zero.

More than two groups (``kgroup_corrected_gaps``). The range (max − min over G groups, per class)
and the worst pair (the largest two-group sum over G(G−1)/2 pairs) are maxima of noisy values, so
their upward bias grows with G and no per-term polynomial removes it. The estimator is a
parametric-bootstrap bias correction: bias(θ) = E_θ[gap(r̂)] − gap(θ) is estimated by drawing
KGROUP_DRAWS = 256 test sets of binomial counts (each group's own positives and negatives per
class) at rates θ̃, with the fixed seed KGROUP_SEED = 20110401 (the same predictions always read
the same), and bc = raw − (mean of the drawn gaps − gap(θ̃)). With θ̃ = r̂ (the plain bootstrap,
bc = 2·raw − mean) the draws add noise to rates that already carry it and the correction removes
only about 40% of the bias at no gap. So θ̃ is spread-matched: per class and rate, r̃ = p̄ +
λ(r̂ − p̄) around the pooled rate p̄, with λ² = max(0, 1 − (m − 1)/S) and S the chi-square
homogeneity statistic over the m groups that define the rate, so that the spread of r̃ estimates
the true spread rather than true plus noise (constrained empirical Bayes: T. A. Louis, "Estimating
a population of parameter values using Bayes and empirical Bayes methods", JASA 79(386):393–398,
1984). The floor is the mean gap of 256 test sets drawn from p̄ for every group (no gap at all).

Measured (6 groups, 4 classes, 150 test rows per class and group, errors spread, 100 simulated
test sets; tests/test_kgroups.py asserts these within margins), mean over test sets / truth:

- no gap (accuracies 0.70/0.80/0.60/0.75 in every group): EOdds range raw 0.508, bc 0.104 (plain
  bootstrap 0.301), floor 0.511; worst pair raw 0.344, bc 0.095 (0.211), floor 0.337; EOpp0 and
  EOpp1 alike (bc 17–28% of raw). The floor equals the no-gap raw gap within 2%.
- a small spread (groups +0.00 … +0.05 on every class): EOdds range truth 0.267, raw 0.556, bc
  0.209 (−22%; plain bootstrap 0.375); worst pair truth 0.267, raw 0.390, bc 0.184 (−31%; plain
  0.282). Like the two-group correction, a small real gap reads low, a no-gap one slightly high.
- one group 0.08 apart: range truth 0.427, raw 0.692, bc 0.425; worst pair raw 0.552, bc 0.421.
- a large gap (+0.00 … +0.20): range truth 1.067, raw 1.122, bc 1.045; worst pair raw 1.075, bc
  1.067: large gaps are read without bias.
- Spread: the corrected gap's standard deviation is about 1.7× the raw one's near no gap, 1.2×
  at a large gap; a corrected gap can be negative and is not clipped. The Monte-Carlo error of
  the 256 draws is about 1/16 of a gap's spread (0.004–0.006 here).

Cost: two sets of 256 draws of G×K binomials and G(G−1)/2 pair sums, about 4 ms a ``compute``
call at 6 groups and 4 classes; at most DRAW_CELLS pair-class cells are held at once. With two
groups the k-group gaps are the paper's gap and take the Cai–Low values above, unchanged.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev, hermite_e

APPROX_HALF_WIDTH = 2.0  # M: P approximates |x| on [−Mσ, Mσ]
APPROX_DEGREE = 4  # K: even degree of P
SWITCH = 2.0  # T: beyond |Δ̂| > Tσ the plain |Δ̂| is used


def _abs_hermite_coefficients(half_width: float, degree: int) -> np.ndarray:
    """Hermite-series coefficients c with Σ cₖ·Heₖ(z) unbiased for P(μ) ≈ |μ| when z ~ N(μ, 1).

    P is the Chebyshev interpolant of |x| on [−M, M] (near-best in the uniform norm); its monomial
    coefficients aₖ become the estimator Σ aₖ·Heₖ(z) because E[Heₖ(z)] = μᵏ.
    """
    nodes = np.cos(np.pi * (np.arange(400) + 0.5) / 400)
    on_unit = chebyshev.cheb2poly(chebyshev.chebfit(nodes, np.abs(nodes), degree))
    return half_width * on_unit / half_width ** np.arange(on_unit.size)


_COEFFS = _abs_hermite_coefficients(APPROX_HALF_WIDTH, APPROX_DEGREE)


def debiased_abs(delta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Estimates of |Δ| from Δ̂ ≈ N(Δ, σ²), elementwise (Cai & Low 2011): bias within ±0.21σ when Δ̂
    is Gaussian and σ known; the module docstring gives the bounds with binomial counts and σ̂."""
    delta = np.asarray(delta, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    out = np.abs(delta)
    small = (sigma > 0) & (out <= SWITCH * sigma)
    if small.any():
        s = sigma[small]
        z = delta[small] / s
        poly = np.zeros_like(z)
        for k, a in enumerate(_COEFFS):
            if a != 0.0:
                poly += a * hermite_e.hermeval(z, np.eye(k + 1)[k])
        out[small] = s * poly
    return out


def _rate_and_sd(hits: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (group, class): the rate and its binomial standard error (NaN where total is 0).

    The variance uses the add-one-half rate (x + ½)/(n + 1), so a rate of exactly 0 or 1 on a
    small class still gets a non-zero spread instead of pretending to be exact. For a one-vs-rest
    FPR this binomial σ̂ is exact when confusions spread over the other classes and too large (by
    4–27%, module docstring) when they come from one.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, hits / np.where(total > 0, total, 1), np.nan)
        smooth = (hits + 0.5) / (total + 1.0)
        sd = np.where(total > 0, np.sqrt(smooth * (1 - smooth) / np.where(total > 0, total, 1)), np.nan)
    return rate, sd


def _floor_sd(hits: np.ndarray, total: np.ndarray) -> np.ndarray:
    """σ₀ of a rate difference when both groups share the pooled rate of each class."""
    n1, n0 = total[1], total[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (hits[0] + hits[1] + 0.5) / (n0 + n1 + 1.0)
        return np.sqrt(pooled * (1 - pooled) * (1.0 / n0 + 1.0 / n1))


def corrected_gaps(conf: np.ndarray) -> dict[str, float]:
    """``eodds_bc``, ``eopp0_bc``, ``eopp1_bc`` and the noise floors ``eodds_floor``,
    ``eopp0_floor``, ``eopp1_floor`` from a confusion tensor ``conf[group, true, pred]``.

    A class enters a sum exactly where the raw metric uses it (its rate defined in both groups).
    """
    tp = np.diagonal(conf, axis1=1, axis2=2).astype(np.float64)  # (2, K)
    pos = conf.sum(axis=2).astype(np.float64)
    neg = conf.sum(axis=(1, 2)).astype(np.float64)[:, None] - pos
    fp = conf.sum(axis=1).astype(np.float64) - tp
    tpr, tpr_sd = _rate_and_sd(tp, pos)
    fpr, fpr_sd = _rate_and_sd(fp, neg)
    ok_tpr = (pos > 0).all(axis=0)
    ok_fpr = (neg > 0).all(axis=0)
    ok_both = ok_tpr & ok_fpr

    def corrected(rate: np.ndarray, sd: np.ndarray, ok: np.ndarray) -> np.ndarray:
        out = np.zeros(rate.shape[1])
        out[ok] = debiased_abs(rate[1, ok] - rate[0, ok], np.hypot(sd[1, ok], sd[0, ok]))
        return out

    def floor(hits: np.ndarray, total: np.ndarray, ok: np.ndarray) -> np.ndarray:
        out = np.zeros(hits.shape[1])
        out[ok] = _floor_sd(hits[:, ok], total[:, ok]) * math.sqrt(2.0 / math.pi)
        return out

    d_tpr, d_fpr = corrected(tpr, tpr_sd, ok_tpr), corrected(fpr, fpr_sd, ok_fpr)
    f_tpr, f_fpr = floor(tp, pos, ok_tpr), floor(fp, neg, ok_fpr)
    return {
        "eodds_bc": float((d_tpr + d_fpr)[ok_both].sum()),
        "eopp0_bc": float(d_fpr[ok_fpr].sum()),
        "eopp1_bc": float(d_tpr[ok_tpr].sum()),
        "eodds_floor": float((f_tpr + f_fpr)[ok_both].sum()),
        "eopp0_floor": float(f_fpr[ok_fpr].sum()),
        "eopp1_floor": float(f_tpr[ok_tpr].sum()),
    }


KGROUP_SEED = 20110401  # fixed: a metric must not change between two reads of the same predictions
KGROUP_DRAWS = 256  # simulated test sets per estimate; Monte-Carlo error ≈ spread of the gap / 16
DRAW_CELLS = 1 << 22  # draws × pairs × classes held at once (bounds memory at 64 groups)
_KINDS = ("range", "worst_pair")


def _gap_sums(tpr: np.ndarray, fpr: np.ndarray, ok_tpr: np.ndarray, ok_fpr: np.ndarray) -> dict[str, np.ndarray]:
    """Range and worst-pair EOdds/EOpp0/EOpp1 of rate arrays (D, G, K), one value per draw.

    ``ok_*`` (G, K) say where a group defines the rate; the range uses the classes every group
    defines, a pair the classes both its groups define (the raw metrics' rule, core.compute).
    """
    n_groups = tpr.shape[1]
    first, second = np.triu_indices(n_groups, 1)
    out: dict[str, np.ndarray] = {}
    all_tpr, all_fpr = ok_tpr.all(axis=0), ok_fpr.all(axis=0)
    r_tpr = np.where(all_tpr, tpr.max(axis=1) - tpr.min(axis=1), 0.0)  # undefined rates are filled, masked here
    r_fpr = np.where(all_fpr, fpr.max(axis=1) - fpr.min(axis=1), 0.0)
    out["eodds_range"] = np.where(all_tpr & all_fpr, r_tpr + r_fpr, 0.0).sum(axis=-1)
    out["eopp0_range"] = r_fpr.sum(axis=-1)
    out["eopp1_range"] = r_tpr.sum(axis=-1)
    pair_tpr = ok_tpr[first] & ok_tpr[second]  # (P, K)
    pair_fpr = ok_fpr[first] & ok_fpr[second]
    d_tpr = np.where(pair_tpr, np.abs(tpr[:, second] - tpr[:, first]), 0.0)  # (D, P, K)
    d_fpr = np.where(pair_fpr, np.abs(fpr[:, second] - fpr[:, first]), 0.0)
    out["eodds_worst_pair"] = np.where(pair_tpr & pair_fpr, d_tpr + d_fpr, 0.0).sum(axis=-1).max(axis=-1)
    out["eopp0_worst_pair"] = d_fpr.sum(axis=-1).max(axis=-1)
    out["eopp1_worst_pair"] = d_tpr.sum(axis=-1).max(axis=-1)
    return out


def _spread_matched(hits: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class: the pooled rate p̄ and rates r̃ = p̄ + λ(r̂ − p̄) whose spread over groups
    estimates the true one (constrained empirical Bayes, Louis 1984): the observed spread is the
    true one plus binomial noise, S = Σ n_g (r̂_g − p̄)²/(p̄(1 − p̄)) has mean (m − 1) + the true
    part over m groups, so λ² = max(0, 1 − (m − 1)/S)."""
    ok = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (np.where(ok, hits, 0).sum(axis=0) + 0.5) / (np.where(ok, total, 0).sum(axis=0) + 1.0)
        rate = np.where(ok, hits / np.where(ok, total, 1), pooled)
        chi2 = (np.where(ok, total, 0) * (rate - pooled) ** 2).sum(axis=0) / (pooled * (1 - pooled))
        m = ok.sum(axis=0)
        shrink = np.sqrt(np.clip(1.0 - (m - 1) / np.where(chi2 > 0, chi2, np.inf), 0.0, 1.0))
    return pooled, pooled + shrink * (rate - pooled)


def _mean_draws(rng: np.random.Generator, tpr: np.ndarray, pos: np.ndarray, fpr: np.ndarray, neg: np.ndarray,
                ok_tpr: np.ndarray, ok_fpr: np.ndarray) -> dict[str, float]:
    """Mean of each gap over KGROUP_DRAWS test sets drawn binomially from rates (G, K) with the
    test set's own counts (draws in chunks of at most DRAW_CELLS pair-class cells)."""
    n_groups, k = tpr.shape
    chunk = max(1, DRAW_CELLS // max(1, n_groups * (n_groups - 1) // 2 * k))
    sums: dict[str, float] = {}
    for start in range(0, KGROUP_DRAWS, chunk):
        d = min(chunk, KGROUP_DRAWS - start)
        t = rng.binomial(pos.astype(np.int64), np.clip(tpr, 0, 1), size=(d, n_groups, k)) / np.maximum(pos, 1)
        f = rng.binomial(neg.astype(np.int64), np.clip(fpr, 0, 1), size=(d, n_groups, k)) / np.maximum(neg, 1)
        for key, v in _gap_sums(t, f, ok_tpr, ok_fpr).items():
            sums[key] = sums.get(key, 0.0) + float(v.sum())
    return {key: v / KGROUP_DRAWS for key, v in sums.items()}


def two_group_as_kgroup(two: dict[str, float]) -> dict[str, float]:
    """``corrected_gaps``'s values under the k-group names: with two groups range = worst pair = gap."""
    return {f"{m}_{kind}_{what}": two[f"{m}_{what}"]
            for m in ("eodds", "eopp0", "eopp1") for kind in _KINDS for what in ("bc", "floor")}


def kgroup_corrected_gaps(conf: np.ndarray) -> dict[str, float]:
    """``{eodds,eopp0,eopp1}_{range,worst_pair}_{bc,floor}`` from ``conf[group, true, pred]``.

    Two groups: range and worst pair are the paper's gap, so both take ``corrected_gaps``'s values.
    More: the bias at spread-matched rates r̃, estimated by KGROUP_DRAWS seeded binomial test sets,
    is subtracted from the raw gap; the floor is the mean gap of test sets drawn from the pooled
    rates (module docstring, "More than two groups").
    """
    if conf.shape[0] == 2:
        return two_group_as_kgroup(corrected_gaps(conf))
    tp = np.diagonal(conf, axis1=1, axis2=2).astype(np.float64)  # (G, K)
    pos = conf.sum(axis=2).astype(np.float64)
    neg = conf.sum(axis=(1, 2)).astype(np.float64)[:, None] - pos
    fp = conf.sum(axis=1).astype(np.float64) - tp
    ok_tpr, ok_fpr = pos > 0, neg > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = _gap_sums((tp / np.maximum(pos, 1))[None], (fp / np.maximum(neg, 1))[None], ok_tpr, ok_fpr)
    pooled_tpr, matched_tpr = _spread_matched(tp, pos)
    pooled_fpr, matched_fpr = _spread_matched(fp, neg)
    rng = np.random.default_rng(KGROUP_SEED)
    at_matched = _gap_sums(matched_tpr[None], matched_fpr[None], ok_tpr, ok_fpr)
    drawn = _mean_draws(rng, matched_tpr, pos, matched_fpr, neg, ok_tpr, ok_fpr)
    floor = _mean_draws(rng, np.broadcast_to(pooled_tpr, pos.shape), pos, np.broadcast_to(pooled_fpr, neg.shape), neg,
                        ok_tpr, ok_fpr)
    out: dict[str, float] = {}
    for m in ("eodds", "eopp0", "eopp1"):
        for kind in _KINDS:
            key = f"{m}_{kind}"
            out[f"{key}_bc"] = float(raw[key][0] - (drawn[key] - at_matched[key][0]))
            out[f"{key}_floor"] = float(floor[key])
    return out
