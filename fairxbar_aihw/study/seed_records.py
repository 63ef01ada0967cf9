"""What a seed records beside its chip rows, so that its report needs only the database.

Why here and not on ``StudyRun``: these are the report's inputs that are not rows (the
pre-trained model's row and its test-set bootstrap, the machine and the data, the timed
evaluation that is the study's unit of cost, the saliency figures' data). Each is computed by a
stage from the seed's context and written once into the run's metadata.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch

from ..metrics.bootstrap import stratified_bootstrap
from ..provenance import environment_info
from ..saliency import layer_fractions, rank_pairs
from ..training import evaluate, predict_logits
from . import arms
from .keys import RowKind, fraction_key
from .plan import BASELINE_KEY

if TYPE_CHECKING:
    from .pipeline import StudyRun

BOOTSTRAP_RESAMPLES = 1000  # test-set intervals of the pre-trained model (0.3 s for the demo)
RANK_POINTS = 3000  # weights per layer in the rank-agreement figure (Fig. 4)


def record_baseline(run: "StudyRun") -> None:
    """The pre-trained model's row on ideal hardware, its training record and its test-set intervals."""
    model, ckpt = run.train_baseline()
    run.code_groups()
    arms.write_ideal_row(run.store, run.run_id, BASELINE_KEY, run.cfg.seed, run.evaluator, model, run.device,
                         kind=RowKind.BASELINE, method="none", target=None)
    run.store.set_meta(run.run_id, "baseline", {
        "test_bootstrap": test_bootstrap(run, model),
        "best_epoch": ckpt["best_epoch"], "history": ckpt["history"], "train_seconds": ckpt["seconds"],
        "val": {k: v for k, v in evaluate(model, run.splits.val, run.device, run.splits.num_classes).items()
                if k not in ("undefined",)},
    })


def test_bootstrap(run: "StudyRun", model: torch.nn.Module) -> dict[str, Any]:
    """The pre-trained model's stratified bootstrap over test images: computed once per run (the
    run id fixes the model and the split), then read back on every resume."""
    stored = run.meta("baseline", {}).get("test_bootstrap")
    if stored and stored.get("resamples") == BOOTSTRAP_RESAMPLES:
        return stored
    test = run.splits.test
    preds = predict_logits(model, test, run.device).argmax(1).cpu().numpy()
    interval = stratified_bootstrap(test.labels.numpy(), preds, test.groups.numpy(), run.splits.num_classes,
                                    resamples=BOOTSTRAP_RESAMPLES, seed=run.cfg.seed)
    return {"resamples": BOOTSTRAP_RESAMPLES, "level": 0.95, "strata": "group × class",
            **{k: list(v) for k, v in interval.items()}}


def record_environment(run: "StudyRun") -> dict[str, Any]:
    """The machine and the dataset the run computed on (what the report's provenance says)."""
    run.code_groups()
    info = environment_info(run.device)
    s = run.splits
    run.store.set_meta(run.run_id, "environment", info)
    run.store.set_meta(run.run_id, "dataset", {
        "name": s.name, "synthetic": s.synthetic, "class_names": s.class_names,
        "sizes": {k: len(getattr(s, k)) for k in ("train", "val", "test")},
        "image_size": s.image_size, "info": s.info, "fingerprint": s.fingerprint()})
    return info


def time_test_evaluation(run: "StudyRun") -> float:
    """Seconds of one digital evaluation of the model on the test split, timed in this process
    (the median of three after one that warms up: a single timing beside another worker varied
    0.048-0.068 s between the demo's seeds): the unit "eval-equivalent" of the study's cost
    (docs/benchmarks.md); recorded for the report's compute line. Timed once per run, beside the
    stages' first computation: a resume (on this or another machine) keeps the unit they were
    measured in."""
    recorded = run.meta("eval_seconds")
    if recorded is not None:
        return float(recorded)
    model, _ = run.train_baseline()
    test = run.data.test
    predict_logits(model, test, run.device)
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        predict_logits(model, test, run.device)
        timings.append(time.perf_counter() - t0)
    seconds = sorted(timings)[1]
    run.store.set_meta(run.run_id, "eval_seconds", round(seconds, 4))
    return seconds


def record_saliency_figures(run: "StudyRun", s: dict[str, torch.Tensor], a: dict[str, torch.Tensor]) -> None:
    """Figure data for the report (Figs. 4 and 5): the rank agreement of fairness and accuracy
    saliency in three layers, and each method's targeted fraction per layer."""
    names = list(s)
    picks = {"first": names[0], "middle": names[len(names) // 2], "last": names[-1]}
    ranks = {}
    for label, name in picks.items():
        r_s, r_a = rank_pairs(s[name], a[name], max_points=RANK_POINTS, seed=run.cfg.seed)
        ranks[label] = {"layer": name, "fairness_rank": r_s.round(4).tolist(), "accuracy_rank": r_a.round(4).tolist()}
    fractions = {}
    for target in run.cfg.sweep.targets:
        for method in ("FR", *run.plan.fa_labels()):
            fractions[fraction_key(method, target)] = layer_fractions(run.masks(method, target, s, a))
    run.store.set_meta(run.run_id, "saliency", {"ranks": ranks, "layer_fractions": fractions, "layers": names})
