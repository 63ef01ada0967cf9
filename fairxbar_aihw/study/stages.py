"""The stages of one seed, in one registry: what each computes, stores, costs and is called.

Why one registry: the pipeline runs the stages, the worker scheduler hands them out, the study's
clock prices them, the progress check names their missing rows, and the command line offers each
as a command. Each of them reads ``REGISTRY``, so adding a stage is one entry here (its ``compute``
and its ``work``) plus its test, and no stage runs that the others do not know of
(``tests/test_stages.py`` fails on one).

A stage's ``compute`` takes the seed's ``StudyRun`` (the context: data, baseline, saliency cache,
store), does what is not stored yet and returns how many rows (or models) it added; its ``work``
predicts one seed's cost in eval-equivalents (one digital test-set evaluation of the model, the
unit of ``docs/benchmarks.md``) from the plan and the split sizes. Heavy libraries load inside
``compute``: the command line and the report read this module without torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

from .keys import RowKey, RowKind

if TYPE_CHECKING:
    from .pipeline import StudyRun
    from .plan import StudyPlan

# Cost factors in forward passes of one image (a digital evaluation of n_test images costs n_test
# of them). A training step is a forward and a backward (~3 forwards); exact per-group curvature
# costs ~30 forwards per sample on the small models (benchmarks/bench_curvature.py).
TRAIN_STEP_FORWARDS = 3.0
CURVATURE_FORWARDS = 30.0


@dataclass(frozen=True)
class SeedShape:
    """What one seed's stage costs depend on: the plan and the split sizes (``trains`` False: the
    study was given its model)."""

    plan: "StudyPlan"
    n_train: int
    n_val: int
    n_test: int
    trains: bool = True

    @property
    def per_image(self) -> float:
        """Eval-equivalents of one image's forward pass."""
        return 1.0 / max(1, self.n_test)

    def chips(self, kind: RowKind) -> int:
        """Planned rows of ``kind`` (each one test-set evaluation)."""
        return sum(n for key, n in self.plan.planned_rows().items() if RowKey.parse(key).kind == kind)


@dataclass(frozen=True)
class Stage:
    """One stage of a seed.

    ``name`` is what the study's clock, the workers and the recorded timings call it; ``verb`` its
    command; ``prepares`` whether later stages read what it caches (a seed's preparation runs
    first, then the other stages side by side: they need nothing of each other); ``writes`` the
    row kinds it stores and what the progress check calls them; ``describe`` the command's line
    for a seed once it ran (default: the count with ``unit``)."""

    name: str
    verb: str
    help: str
    prepares: bool
    compute: Callable[["StudyRun"], int]
    work: Callable[[SeedShape], float]
    writes: Mapping[RowKind, str] = field(default_factory=dict)
    unit: str = "rows"
    describe: Callable[["StudyRun", int], str] | None = None
    audit_only: bool = False  # run by ``audit`` alone: no command of its own, not in a study's stages


# ---- train ---------------------------------------------------------------------------------
def _train(run: "StudyRun") -> int:
    """The baseline (trained once, then loaded, or given), and one test evaluation timed: the study's
    unit of cost."""
    from .seed_records import time_test_evaluation

    run.train_baseline()
    time_test_evaluation(run)
    return 1


def _train_work(shape: SeedShape) -> float:
    tr = shape.plan.cfg.train
    return tr.epochs * (TRAIN_STEP_FORWARDS * shape.n_train + shape.n_val) * shape.per_image if shape.trains else 0.0


def _describe_train(run: "StudyRun", n: int) -> str:
    t = run.baseline[1]["test"]
    return (f"seed {run.cfg.seed} baseline: test macro-F1 {t['f1_macro']:.4f}, EOdds {t['eodds']:.4f}, "
            f"accuracy by group 0={t['per_group'][0]['accuracy']:.4f} 1={t['per_group'][1]['accuracy']:.4f}")


# ---- saliency ------------------------------------------------------------------------------
def _saliency(run: "StudyRun") -> int:
    """The machine and data recorded, then per-group curvature and saliency (cached), and the
    report's figure data of the saliency."""
    from .seed_records import record_environment, record_saliency_figures

    record_environment(run)
    record_saliency_figures(run, *run.compute_saliency())
    return 1


def _saliency_work(shape: SeedShape) -> float:
    return 2 * shape.plan.cfg.saliency.samples_per_group * CURVATURE_FORWARDS * shape.per_image


def _describe_saliency(run: "StudyRun", n: int) -> str:
    lines = []
    for target in run.cfg.sweep.targets:
        for label in run.plan.fa_labels():
            masks = run.masks(label, target) or {}
            total = sum(v.numel() for v in masks.values())
            lines.append(f"seed {run.cfg.seed}: {label} at {100 * target:g}%: "
                         f"{sum(int(v.sum()) for v in masks.values())} of {total} weights targeted")
    return "\n".join(lines)


# ---- the Monte-Carlo sweep -----------------------------------------------------------------
def _timed_rows(run: "StudyRun", stage: str, compute: Callable[[], int]) -> int:
    """``compute()``'s new rows, its seconds recorded under ``stage`` when it added any."""
    t0 = time.time()
    n = compute()
    if n:
        run.record_timing(stage, time.time() - t0)
    return n


def _sweep(run: "StudyRun") -> int:
    """The pre-trained model's row and intervals, then every missing chip of the sweep's cells."""
    from .seed_records import record_baseline
    from .montecarlo import run_cells

    record_baseline(run)
    return _timed_rows(run, "inject", lambda: run_cells(
        run.evaluator, run.jobs(run.plan.sweep_cells()), run.store, run.run_id, run.cfg.sweep.trials, run.cfg.seed,
        run.executor, progress=run.progress, desc=f"{run.name}: Monte-Carlo chips"))


# ---- drift ---------------------------------------------------------------------------------
def _drift(run: "StudyRun") -> int:
    """Drift chips: each programmed once and read at every drift time."""
    from .montecarlo import run_cells

    dr = run.cfg.drift
    if not dr.times or not dr.presets:
        return 0
    run.code_groups()
    return _timed_rows(run, "drift", lambda: run_cells(
        run.evaluator, run.jobs(run.plan.drift_cells()), run.store, run.run_id, run.cfg.chips_per_cell("drift"),
        run.cfg.seed, run.executor, drift_times=[float(t) for t in dr.times], progress=run.progress,
        desc=f"{run.name}: drift chips"))


# ---- mitigation arms -----------------------------------------------------------------------
def _arm_model(run: "StudyRun", arm: str) -> "object":
    """A retrained copy of the baseline for one arm (cached on disk by its settings), its training
    time and what its training recorded kept in the run's metadata."""
    from ..retrain.arm_registry import ARM_LABELS
    from . import arms

    model, ckpt = run.train_baseline()
    run.code_groups()
    arm_model, seconds, info = arms.arm_model(arm, model, ckpt["key"], run.splits, run.plan, run.seed_folder(),
                                              run.device, run.cfg.seed, run.progress)
    if seconds is not None:
        run.record_timing(f"retrain {arm}", seconds)
    selection = dict(run.meta("arm_training", {}))
    selection[ARM_LABELS[arm]] = {"steps": run.cfg.retrain.steps, **info}
    run.store.set_meta(run.run_id, "arm_training", selection)
    return arm_model


def _arms(run: "StudyRun") -> int:
    """Every retraining arm on ideal hardware and on the sweep's hardware, and their diagnostics."""
    from ..retrain.arm_registry import ARM_LABELS
    from . import arms

    rt = run.cfg.retrain
    if not rt.arms:
        return 0
    models = {"pre-trained": run.train_baseline()[0]}
    total = 0
    for arm in rt.arms:
        models[ARM_LABELS[arm]] = model = _arm_model(run, arm)
        total += _timed_rows(run, f"evaluate {arm}", lambda: arms.evaluate_arm(
            arm, model, run.splits, run.plan, run.store, run.run_id, run.cfg.seed, run.device, run.executor,
            run.progress, f"{run.name}: {ARM_LABELS[arm]} chips"))
    stored = run.meta("diagnostics", {})
    if total or set(stored) != run.plan.diagnostic_models():  # a resume with nothing new keeps them (minutes on a CPU)
        _timed_rows(run, "diagnostics", lambda: _record_diagnostics(run, models))
    return total


def _record_diagnostics(run: "StudyRun", models: dict) -> int:
    """Per-group gradient norm and top Hessian eigenvalue of each model (power iterations per group;
    ``retrain.diagnostic_iters`` 0 = none); returns how many models it measured."""
    from . import arms

    diag = arms.diagnostics(models, run.group_batches(), int(run.cfg.retrain.diagnostic_iters))
    run.store.set_meta(run.run_id, "diagnostics", diag)
    return len(diag)


def _arms_work(shape: SeedShape) -> float:
    rt, n_val = shape.plan.cfg.retrain, shape.n_val
    per_arm = 0.0
    if rt.arms:
        checks = (rt.steps // rt.eval_every + 1) if rt.eval_every else 0
        refreshes = rt.steps // rt.refresh_every + 1
        per_arm = (rt.steps * TRAIN_STEP_FORWARDS * 2 * rt.batch_size + checks * rt.val_chips * n_val
                   + refreshes * 2 * rt.samples_per_group * CURVATURE_FORWARDS) * shape.per_image + 1
    return len(rt.arms) * per_arm + shape.chips(RowKind.RETRAIN)


# ---- pruning -------------------------------------------------------------------------------
def _prune(run: "StudyRun") -> int:
    """Pruning arms (stuck-at-zero) on ideal hardware: one deterministic row per kind × sparsity."""
    from . import arms

    if not run.cfg.prune.kinds:
        return 0
    run.code_groups()
    return _timed_rows(run, "prune", lambda: arms.run_pruning(
        run.train_baseline()[0], run.compute_curvature, run.splits, run.plan, run.store, run.run_id, run.cfg.seed,
        run.evaluator, run.device))


def _prune_work(shape: SeedShape) -> float:
    pr, rt = shape.plan.cfg.prune, shape.plan.cfg.retrain
    return len(pr.kinds) * len(pr.sparsities) * (
        pr.finetune_steps * TRAIN_STEP_FORWARDS * rt.batch_size * shape.per_image + 1)


# ---- the audit's per-layer chips -----------------------------------------------------------
def _layers(run: "StudyRun") -> int:
    from .layers import layer_sensitivity

    return layer_sensitivity(run)


class StageRegistry:
    """The stages in the order they run, and what each reader needs of them, derived when read:
    a study's stages (``names``), its preparation and the stages after it, the audit's stages, and
    what the progress check calls each row kind."""

    def __init__(self, entries: tuple[Stage, ...]):
        self.entries = entries
        self.by_name = {s.name: s for s in entries}
        if len(self.by_name) != len(entries):
            raise ValueError("two stages share a name")

    def stage(self, name: str) -> Stage:
        """The stage called ``name`` (a ValueError naming the stages for any other)."""
        if name not in self.by_name:
            raise ValueError(f"unknown stage {name!r}; stages are {', '.join(self.by_name)}")
        return self.by_name[name]

    @property
    def names(self) -> tuple[str, ...]:
        """A study's stages, in the order they run."""
        return tuple(s.name for s in self.entries if not s.audit_only)

    @property
    def prepare(self) -> tuple[str, ...]:
        """A seed's preparation: what the later stages read (they need nothing of each other)."""
        return tuple(s.name for s in self.entries if s.prepares)

    @property
    def later(self) -> tuple[str, ...]:
        """A study's stages after the preparation."""
        return tuple(n for n in self.names if n not in self.prepare)

    @property
    def audit(self) -> tuple[str, ...]:
        """An audit's stages: the preparation, the sweep, drift and its own (it trains and prunes nothing)."""
        return (*self.prepare, "sweep", "drift", *(s.name for s in self.entries if s.audit_only))

    @property
    def row_phrases(self) -> dict[RowKind, str]:
        """Every row kind a stage writes, and what the progress check calls those rows."""
        return {kind: phrase for s in self.entries for kind, phrase in s.writes.items()}

    def with_stage(self, entry: Stage) -> "StageRegistry":
        """This registry with one more stage at the end (a plugin's, or a test's)."""
        return StageRegistry((*self.entries, entry))


REGISTRY = StageRegistry((
    Stage("train", "train", "Train (or load) the baseline model of each seed.", prepares=True, compute=_train,
          work=_train_work, unit="baselines ready", describe=_describe_train),
    Stage("saliency", "saliency", "Compute (or load) per-group curvature and the saliency ranks of each seed.",
          prepares=True, compute=_saliency, work=_saliency_work, describe=_describe_saliency),
    Stage("sweep", "inject", "Run the Monte-Carlo error-injection sweep of each seed (resumable).", prepares=False,
          compute=_sweep, work=lambda shape: float(shape.chips(RowKind.SWEEP)), unit="chips",
          writes={RowKind.BASELINE: "pre-trained model", RowKind.SWEEP: "sweep chips"}),
    Stage("arms", "retrain", "Run the study's retraining arms (VA/VFA retraining, HWA, boundary) and their chips.",
          prepares=False, compute=_arms, work=_arms_work, unit="arm chips",
          writes={RowKind.RETRAIN_IDEAL: "retrained arms", RowKind.RETRAIN: "arm chips"}),
    Stage("prune", "prune", "Run the study's pruning arms (stuck-at-zero weights) on ideal hardware.",
          prepares=False, compute=_prune, work=_prune_work, unit="pruning rows",
          writes={RowKind.PRUNE: "pruning rows"}),
    Stage("drift", "drift", "Evaluate fairness over time after programming (the study's drift section).",
          prepares=False, compute=_drift, work=lambda shape: float(shape.chips(RowKind.DRIFT)), unit="drift chips",
          writes={RowKind.DRIFT: "drift chips"}),
    Stage("layers", "layers", "Errors on one crossbar layer at a time (the audit's).", prepares=False,
          compute=_layers, work=lambda shape: 0.0, unit="layer chips", writes={RowKind.LAYER: "per-layer chips"},
          audit_only=True),
))


def predicted_work(plan: "StudyPlan", n_train: int, n_val: int, n_test: int, trains: bool = True) -> dict[str, float]:
    """One seed's predicted cost of each stage in eval-equivalents, from the plan's counts and the
    split sizes (``trains`` False: the study was given its model)."""
    shape = SeedShape(plan, n_train, n_val, n_test, trains)
    return {name: float(REGISTRY.stage(name).work(shape)) for name in REGISTRY.names}


class StageListener(Protocol):
    """What hears that a seed began or finished a stage: the study's clock, or a worker's relay to it."""

    def begin(self, seed: int, stage: str) -> None: ...

    def finished(self, seed: int, stage: str, seconds: float, computed: bool = True) -> None: ...


def run_stage(run: "StudyRun", name: str) -> int:
    """Stage ``name`` of one seed; returns the rows (or models) it added."""
    return REGISTRY.stage(name).compute(run)


def compute_stages(run: "StudyRun", names: list[str] | tuple[str, ...] | None = None,
                   clock: StageListener | None = None) -> None:
    """The stages ``names`` of one seed, in that order (default: a study's, in the registry's order; those
    after the preparation need it done, and need nothing of each other: workers run them side by
    side); ``clock`` hears when each begins and ends."""
    for name in REGISTRY.names if names is None else names:
        t0 = time.monotonic()
        if clock is not None:
            clock.begin(run.cfg.seed, name)
        run_stage(run, name)
        if clock is not None:
            clock.finished(run.cfg.seed, name, time.monotonic() - t0)


def prepare(run: "StudyRun") -> None:
    """What every later stage of a seed reads: the preparing stages (trained baseline, group coding,
    saliency, recorded environment)."""
    compute_stages(run, REGISTRY.prepare)


def seed_work(run: "StudyRun") -> dict[str, float]:
    """One seed's predicted cost of each stage in eval-equivalents, from its plan and its data."""
    s = run.load_data()
    return predicted_work(run.plan, len(s.train), len(s.val), len(s.test), trains=not run.brings_model)
