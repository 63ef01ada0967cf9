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
