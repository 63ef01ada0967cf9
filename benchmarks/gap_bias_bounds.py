"""How far the bias-corrected gap's guarantee holds off its design model (issue 31).

``fairxbar_aihw.metrics.gap_bias`` estimates each |Δ| term of EOdds by Cai & Low's Hermite
polynomial method. Its design bound (a term's bias ≤ 0.21σ at every Δ) is for Δ̂ ~ N(Δ, σ²) with σ
known; the metric sees binomial counts and plugs in σ̂. Measured here with the project's own
functions (``_rate_and_sd``, ``debiased_abs``, ``corrected_gaps``, ``metrics.compute``):

1. **One term**, in units of its true σ, at rates 0.005–0.5 and 15–1,600 rows per group, over every
   gap Δ from −6σ to 6σ: exact expectations over both groups' binomial counts (every pair of
   counts weighted by its probability, so no sampling noise), with the plug-in σ̂ the metric uses
   and with the true σ. The Gaussian row is the design model (numerical integration).
2. **A difference of two gaps** (A − B, one term each at the same rate and size): its bias is
   bias(Δ_A) − bias(Δ_B), as large as the spread max − min of (1) in σ.
3. **A small real gap** by Monte Carlo (seeded): 4 classes, 150 test rows per class and group
   (1,200 rows), group accuracies 0.81 vs 0.85 on every class, the errors spread evenly over the
   other classes or all sent to one; the raw and corrected EOdds against the large-sample value.
4. **The one-vs-rest FPR σ̂** against the exact σ of a test set with fixed rows per class, when
   confusions concentrate in one class vs spread; and a stratified σ̂ (the binomial variance less
   the spread of the per-class confusion rates) with its effect on EOdds_bc.

    python benchmarks/gap_bias_bounds.py      # about 20 s on one core
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import binom

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fairxbar_aihw.metrics import compute  # noqa: E402
from fairxbar_aihw.metrics.gap_bias import _rate_and_sd, corrected_gaps, debiased_abs  # noqa: E402

STEPS = np.linspace(-6, 6, 241)  # Δ in units of σ at Δ = 0
TERMS = ((15, 0.05), (15, 0.5), (50, 0.02), (50, 0.05), (50, 0.5), (150, 0.02), (150, 0.05), (150, 0.1),
         (150, 0.2), (150, 0.5), (450, 0.02), (450, 0.05), (450, 0.1), (1600, 0.005), (1600, 0.02))


def gaussian_term() -> dict[str, float]:
    """One term for Δ̂ ~ N(Δ, 1), σ known, over Δ ≥ 0 (Δ < 0 mirrors it): the extremes of its bias
    and where they fall, and its largest standard deviation."""
    z = np.arange(-12, 12, 5e-4)
    w = np.exp(-z * z / 2)
    w /= w.sum()
    grid = np.linspace(0, 8, 321)
    est = [debiased_abs(t + z, np.ones_like(z)) for t in grid]
    bias = np.array([w @ e - t for e, t in zip(est, grid)])
    sd = np.array([np.sqrt(w @ (e - w @ e) ** 2) for e in est])
    beyond = grid[np.abs(bias) >= 0.01].max()
    return {"max": bias.max(), "at_max": grid[bias.argmax()], "min": bias.min(), "at_min": grid[bias.argmin()],
            "below_0.01_beyond": beyond, "sd": sd.max(), "at_sd": grid[sd.argmax()]}


def binomial_term(n: int, p: float, steps: np.ndarray = STEPS) -> dict[str, float]:
    """Extremes over Δ (``steps``, in units of σ at Δ = 0) of one term's bias / true σ when each
    group has n rows, one group's rate p, the other's p + Δ: with σ̂ as the metric plugs it in,
    with the true σ, and for raw |Δ̂|."""
    x = np.arange(n + 1)
    rate, sd = _rate_and_sd(x.astype(np.float64), np.full(n + 1, float(n)))
    diff = rate[None, :] - rate[:, None]  # [count of group 0, count of group 1]
    plug = debiased_abs(diff, np.hypot(sd[:, None], sd[None, :]))  # what corrected_gaps computes
    base_sd = np.sqrt(2 * p * (1 - p) / n)
    b_plug, b_known, b_raw = [], [], []
    for t in steps:
        p1 = p + t * base_sd
        if not 0.0 <= p1 <= 1.0:
            continue
        f0, f1 = binom.pmf(x, n, p), binom.pmf(x, n, p1)
        sigma = np.sqrt(p * (1 - p) / n + p1 * (1 - p1) / n)
        truth = abs(p1 - p)
        b_plug.append((f0 @ plug @ f1 - truth) / sigma)
        b_raw.append((f0 @ np.abs(diff) @ f1 - truth) / sigma)
        m0, m1 = f0 > 1e-14, f1 > 1e-14  # the known-σ estimate differs per Δ: only where counts have mass
        known = debiased_abs(diff[np.ix_(m0, m1)], np.full((m0.sum(), m1.sum()), sigma))
        b_known.append((f0[m0] @ known @ f1[m1] - truth) / sigma)
    return {"max": max(b_plug), "min": min(b_plug), "known_max": max(b_known), "known_min": min(b_known),
            "raw_max": max(b_raw), "raw_min": min(b_raw)}


def confusion_probs(accuracies: list[float], concentrated: bool) -> np.ndarray:
    """P[true, pred] of one group: class j right with its accuracy, its errors spread evenly over
    the other classes or (concentrated) all sent to class j + 1."""
    k = len(accuracies)
    p = np.zeros((k, k))
    for j, acc in enumerate(accuracies):
        if concentrated:
            p[j, (j + 1) % k] = 1 - acc
        else:
            p[j, :] = (1 - acc) / (k - 1)
        p[j, j] = acc
    return p


def draw(rng: np.random.Generator, probs: np.ndarray, per_class: int, reps: int) -> np.ndarray:
    """``reps`` confusion tensors conf[rep, group, true, pred] with ``per_class`` rows per class and group."""
    groups, k, _ = probs.shape
    out = np.empty((reps, groups, k, k), dtype=np.int64)
    for g in range(groups):
        for j in range(k):
            out[:, g, j, :] = rng.multinomial(per_class, probs[g, j], size=reps)
    return out


def large_sample_eodds(probs: np.ndarray) -> float:
    """EOdds of the expected confusion (equal rows per class): Σ_c |ΔTPR_c| + |ΔFPR_c|."""
    k = probs.shape[1]
    tpr = np.diagonal(probs, axis1=1, axis2=2)
    fpr = (probs.sum(axis=1) - tpr) / (k - 1)
    return float(np.abs(tpr[1] - tpr[0]).sum() + np.abs(fpr[1] - fpr[0]).sum())


def raw_eodds(conf: np.ndarray) -> float:
    """EOdds from ``metrics.compute`` on the rows a confusion tensor stands for."""
    cells = np.argwhere(np.ones_like(conf, dtype=bool))
    rows = np.repeat(cells, conf.ravel(), axis=0)
    return compute(rows[:, 1], rows[:, 2], rows[:, 0])["eodds"]


def fpr_parts(conf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-vs-rest FPR per [..., group, class], the metric's binomial σ̂ and the stratified σ̂:
    the binomial variance less Σ_j n_j (q̂_jc − FPR_c)² / n_neg², the spread of the per-true-class
    confusion rates q̂_jc = conf[j, c] / n_j that fixed rows per class do not sample."""
    conf = conf.astype(np.float64)
    tp = np.diagonal(conf, axis1=-2, axis2=-1)
    pos = conf.sum(axis=-1)
    neg = pos.sum(axis=-1, keepdims=True) - pos
    fpr, sd = _rate_and_sd(conf.sum(axis=-2) - tp, neg)
    q = conf / pos[..., :, None]  # [..., true j, pred c]
    spread = (pos[..., :, None] * (q - fpr[..., None, :]) ** 2).sum(axis=-2)
    spread -= pos * (np.diagonal(q, axis1=-2, axis2=-1) - fpr) ** 2  # j = c is no negative of c
    return fpr, sd, np.sqrt(np.maximum(sd ** 2 - spread / neg ** 2, 0.0))


def exact_fpr_sd(probs: np.ndarray, per_class: int) -> np.ndarray:
    """σ of one group's one-vs-rest FPR per class with ``per_class`` fixed rows per class: a sum of
    independent binomials over the other classes."""
    k = probs.shape[0]
    var = per_class * probs * (1 - probs)
    return np.sqrt(var.sum(axis=0) - np.diagonal(var)) / (per_class * (k - 1))


def stratified_eodds_bc(conf: np.ndarray) -> np.ndarray:
    """EOdds_bc per replicate with the stratified FPR σ̂ (every class defined in both groups here)."""
    tp = np.diagonal(conf, axis1=-2, axis2=-1).astype(np.float64)
    tpr, tsd = _rate_and_sd(tp, conf.sum(axis=-1).astype(np.float64))
    fpr, _, fsd = fpr_parts(conf)
    d_tpr = debiased_abs(tpr[:, 1] - tpr[:, 0], np.hypot(tsd[:, 1], tsd[:, 0]))
    d_fpr = debiased_abs(fpr[:, 1] - fpr[:, 0], np.hypot(fsd[:, 1], fsd[:, 0]))
    return (d_tpr + d_fpr).sum(axis=-1)


def term_table() -> None:
    print("## 1–2. One term's bias in units of its true σ (exact over the binomial counts)\n")
    print("Δ from −6σ to 6σ; n rows per group; expected count = n·min(p, 1 − p) of the rate p. Max − min: the "
          "worst bias of one term of a difference of two gaps.\n")
    print("| n | rate p | expected count | plug-in σ̂: max | min | max − min | true σ: max | min | raw abs: max |")
    print("|---|---|---|---|---|---|---|---|---|")
    g = gaussian_term()
    print(f"| Gaussian, σ known | – | – | {g['max']:+.3f} | {g['min']:+.3f} | {g['max'] - g['min']:.3f} | "
          f"{g['max']:+.3f} | {g['min']:+.3f} | {np.sqrt(2 / np.pi):+.3f} |")
    for n, p in TERMS:
        r = binomial_term(n, p)
        print(f"| {n} | {p:g} | {n * min(p, 1 - p):g} | {r['max']:+.3f} | {r['min']:+.3f} | {r['max'] - r['min']:.3f} "
              f"| {r['known_max']:+.3f} | {r['known_min']:+.3f} | {r['raw_max']:+.3f} |")
    print(f"\nGaussian: bias {g['max']:+.3f}σ at Δ = {g['at_max']:.2f}σ, {g['min']:+.3f}σ at Δ = {g['at_min']:.2f}σ, "
          f"under 0.01σ beyond Δ = {g['below_0.01_beyond']:.2f}σ; standard deviation at most {g['sd']:.2f}σ "
          f"(at Δ = {g['at_sd']:.2f}σ; |Δ̂|: σ).")


def small_gap_table(reps: int = 4000) -> None:
    print(f"\n## 3. A small real gap: 4 classes, 150 rows per class and group, {reps} test sets each\n")
    print("Means ± their Monte-Carlo standard error.\n")
    print("| group accuracies | errors | large-sample EOdds | raw mean | raw bias | corrected mean | corrected bias "
          "| floor |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(31)
    for acc0, acc1 in ((0.81, 0.85), (0.81, 0.81)):
        for concentrated in (False, True):
            probs = np.stack([confusion_probs([acc0] * 4, concentrated), confusion_probs([acc1] * 4, concentrated)])
            confs = draw(rng, probs, 150, reps)
            truth = large_sample_eodds(probs)
            raw = np.array([raw_eodds(c) for c in confs])
            gaps = [corrected_gaps(c) for c in confs]
            bc = np.array([g["eodds_bc"] for g in gaps])
            floor = np.mean([g["eodds_floor"] for g in gaps])

            def cells(v: np.ndarray) -> str:
                bias = f"{100 * (v.mean() / truth - 1):+.1f}%" if truth > 0 else f"{v.mean():+.3f}"
                return f"{v.mean():.3f} ± {v.std() / np.sqrt(v.size):.3f} | {bias}"
            print(f"| {acc0} vs {acc1} | {'one class' if concentrated else 'spread'} | {truth:.3f} | {cells(raw)} | "
                  f"{cells(bc)} | {floor:.3f} |")


def fpr_table(reps: int = 3000) -> None:
    print(f"\n## 4. One-vs-rest FPR σ̂ over its exact σ (150 rows per class, {reps} test sets each)\n")
    print("Mean of σ̂/σ over classes and test sets, and its root-mean-square relative error; σ exact for fixed rows "
          "per class (Monte-Carlo sd / exact σ beside it).\n")
    print("| classes | accuracy | errors | MC sd / exact | binomial σ̂ (the metric): mean | rms error | "
          "stratified σ̂: mean | rms error |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(8)
    for k, acc in ((4, 0.7), (4, 0.8), (4, 0.9), (10, 0.6), (10, 0.8)):
        for concentrated in (False, True):
            probs = confusion_probs([acc] * k, concentrated)
            fpr, sd, strat = fpr_parts(draw(rng, probs[None], 150, reps)[:, 0])
            exact = exact_fpr_sd(probs, 150)
            b, s = sd / exact, strat / exact
            errors = "one class" if concentrated else "spread"
            print(f"| {k} | {acc} | {errors} | {(fpr.std(axis=0) / exact).mean():.3f} | {b.mean():.3f} | "
                  f"{np.sqrt(((b - 1) ** 2).mean()):.3f} | {s.mean():.3f} | {np.sqrt(((s - 1) ** 2).mean()):.3f} |")


def stratified_effect_table(reps: int = 3000) -> None:
    print(f"\n## 4b. EOdds_bc with the stratified FPR σ̂ (4 classes, 150 rows per class and group, {reps} test sets)\n")
    print("| group accuracies | errors | large-sample EOdds | EOdds_bc (binomial σ̂) | with stratified σ̂ | "
          "mean abs change | max change |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(9)
    for acc0, acc1 in ((0.81, 0.81), (0.81, 0.85), (0.75, 0.80), (0.70, 0.90)):
        for concentrated in (False, True):
            probs = np.stack([confusion_probs([acc0] * 4, concentrated), confusion_probs([acc1] * 4, concentrated)])
            confs = draw(rng, probs, 150, reps)
            now = np.array([corrected_gaps(c)["eodds_bc"] for c in confs])
            strat = stratified_eodds_bc(confs)
            print(f"| {acc0} vs {acc1} | {'one class' if concentrated else 'spread'} | {large_sample_eodds(probs):.3f} "
                  f"| {now.mean():.4f} | {strat.mean():.4f} | {np.abs(strat - now).mean():.4f} | "
                  f"{np.abs(strat - now).max():.4f} |")


def main() -> None:
    t0 = time.time()
    term_table()
    small_gap_table()
    fpr_table()
    stratified_effect_table()
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
