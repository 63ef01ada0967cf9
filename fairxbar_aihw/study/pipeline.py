"""A study run: every stage cached and resumable (train → saliency → inject sweep → drift).

Stage outputs live under ``runs/<study>/``: the best-on-val checkpoint, the curvature cache and
``results.sqlite``. The run id is the hash of the resolved config minus the trial counts and
the device, so asking for more trials later extends a run instead of starting over. The engine
computes and stores; the report is written from the database by the application layer (``app``).
"""
from __future__ import annotations

import time
from functools import cached_property, wraps
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from ..data import Splits, load
from ..errors import UserError
from ..models import build
from ..paths import check_name
from ..provenance import environment_info
from ..retrain.arm_registry import ARM_LABELS
from ..rng import saliency_batches_seed
from ..safe_files import safe_mkdir
from ..saliency import curvature, group_batches, layer_fractions, masks_from_saliency, rank_pairs, saliencies
from ..saliency.methods import MethodLabel
from ..store import config_hash
from ..torchfiles import atomic_torch_save, load_torch_file
from ..metrics.bootstrap import stratified_bootstrap
from ..training import TrainConfig, evaluate, predict_logits, train
from ..training.loop import file_digest
from . import arms
from .chips import ChipEvaluator
from .executors import Executor, LocalExecutor
from .eta import PREPARE, StageListener, predicted_work
from .keys import RowKind, fraction_key
from .montecarlo import run_cells
from .plan import BASELINE_KEY, StudyPlan
from .progress import default_command, incomplete_line, missing
from .runfolder import SharedFolder, open_shared_folder, owner_of, report_folder
from .schema import GROUP_OPTIONS, TABLE_OPTIONS, StudyConfig

T = TypeVar("T")

BOOTSTRAP_RESAMPLES = 1000  # test-set intervals of the pre-trained model (0.3 s for the demo)
# Keys added after runs existed: left out of the run hash while unset, so old runs keep their id.
ADDED_LATER = {"dataset": TABLE_OPTIONS + GROUP_OPTIONS, "model": ("torchscript", "weights", "entry")}
RUN_KEYS = ("seed", "dataset", "model", "train", "saliency")


def run_config_for_hash(cfg: StudyConfig) -> dict[str, Any]:
    """What every row of a run depends on: the data, the pre-trained model and its saliency.

    Sweep, drift, retraining and pruning entries only add cells (each cell key carries a hash of
    its resolved preset or arm config), so extending a study extends its run.
    """
    data = cfg.as_dict()
    out = {k: data[k] for k in RUN_KEYS}
    model = dict(out["model"])
    model.pop("trust_code", None)  # whether the user trusts the file changes nothing it computes
    model["torchscript"] = model.pop("file", None)  # the key's old name: runs made before the rename keep their id
    out["model"] = model
    for section, keys in ADDED_LATER.items():  # unset, they leave the hash (and every existing run) as it was
        out[section] = {k: v for k, v in out[section].items() if not (k in keys and v is None)}
    return out


def resolve_device(device: str) -> str:
    """``device`` if this machine has it: cpu, cuda, or cuda:N for a visible GPU N."""
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"unknown device '{device}'; use cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device} was asked for but no CUDA GPU is visible; use --device cpu")
    index = device.partition(":")[2]
    if index and not (index.isdigit() and int(index) < torch.cuda.device_count()):
        count = torch.cuda.device_count()
        raise UserError(f"--device {device}: this machine has {count} CUDA GPU(s), so use cuda:0"
                        + (f" to cuda:{count - 1}" if count > 1 else "") + " (or cuda)")
    return device


def step(method: Callable[["StudyRun"], T]) -> Callable[["StudyRun"], T]:
    """A computing step of a run: it runs on its first call (and may write its cache file or
    record metadata); later calls return the same result. Properties only read these results."""
    @wraps(method)
    def once(run: "StudyRun") -> T:
        if method.__name__ not in run._results:
            run._results[method.__name__] = method(run)
        return run._results[method.__name__]
    return once


class StudyRun:
    """One resolved study seed. Computing is explicit: ``prepare()`` and the stage methods
    (``inject``, ``retrain``, ``prune``, ``drift``) run the steps they need, each once per run
    object and cached on disk where slow; properties (``baseline``, ``splits``, ...) read what a
    step computed and never write."""

    def __init__(self, cfg: StudyConfig, data_root: str | None = None, progress: bool = True,
                 fresh: bool = False, tag: str = "", executor: Executor | None = None, read_only: bool = False,
                 folder: "SharedFolder | None" = None):
        """One seed of a study: ``cfg.seed``. ``executor`` runs the chips (default: in this process).
        ``read_only`` opens an existing run for reports and exports: it computes, creates and
        deletes nothing, and fails if this seed has no results for this configuration.
        ``folder`` is the run folder (path and database) shared by all seeds of a ``Study``; without
        it the run opens (and locks) its own."""
        self.executor = executor or LocalExecutor()
        self._results: dict[str, Any] = {}
        self.cfg = cfg
        self.plan = StudyPlan(cfg)
        self.name = check_name(cfg.name + tag, "run")
        self.progress = progress
        self.data_root = data_root or cfg.dataset.root
        self._lock = None
        self._owns_folder = folder is None
        if folder is None:
            folder = open_shared_folder(self.name, cfg, fresh, read_only)
            self._lock = folder.lock
        self.workdir, self.store = folder.path, folder.store
        self.device = cfg.device if read_only else resolve_device(cfg.device)
        if read_only:
            self.run_id = config_hash(run_config_for_hash(cfg))
            if not self.store.has_run(self.run_id):
                raise UserError(f"{self.store.path} has no results for seed {cfg.seed} of study '{self.name}' as "
                                "configured now (never run, or its data, model, training or saliency settings "
                                f"changed); run `fairxbar-aihw study {cfg.name} --seeds {cfg.seed}` first")
        else:
            self.run_id = self.store.register_run(self.name, run_config_for_hash(cfg))
        self.timings: dict[str, float] = dict(self.store.get_meta(self.run_id, "timings", {}) or {})

    @property
    def files(self) -> Path:
        """This seed's cached files (model, curvature, arm checkpoints) inside the run folder
        (created by ``_seed_folder`` before the first file is written there)."""
        return self.workdir / f"seed-{self.cfg.seed}"

    def _seed_folder(self) -> Path:
        """``files``, created or found without following a link planted there (a step that
        writes in it asks for it first)."""
        return safe_mkdir(self.workdir, self.files.name)

    def _computed(self, name: str) -> Any:
        """The result of step ``name``; a property read before its step ran is a bug in the caller."""
        if name not in self._results:
            raise RuntimeError(f"StudyRun.{name}() has not run yet: call it (or prepare()) first")
        return self._results[name]

    def close(self) -> None:
        """Release the run folder's lock and the database if this run opened them (also done when
        the process ends)."""
        if self._owns_folder:
            self.store.close()
            if self._lock is not None:
                self._lock.close()

    def _timed(self, stage: str, t0: float) -> None:
        self._record_timing(stage, time.time() - t0)

    def _record_timing(self, stage: str, seconds: float) -> None:
        """One stage's seconds into this seed's timings (merged: another worker may time another stage)."""
        self.timings = self.store.update_meta(self.run_id, "timings", {stage: round(float(seconds), 2)})

    # ---- data and baseline -------------------------------------------------------------
    @step
    def load_data(self) -> Splits:
        """The dataset's splits in the dataset's own group coding (what the baseline trains on)."""
        ds = self.cfg.dataset
        t0 = time.time()
        splits = load(ds.name, seed=self.cfg.seed, size=ds.size, root=self.data_root,
                      balance=ds.balance, progress=self.progress, **ds.loader_params())
        self._timed("data", t0)
        return splits

    @property
    def data(self) -> Splits:
        """The dataset's splits as ``load_data()`` loaded them."""
        return self._computed("load_data")

    @cached_property
    def splits(self) -> Splits:
        """The splits every later stage uses: group 0 is the study's unprivileged group (after ``code_groups()``)."""
        return self.data.with_groups_swapped() if self.swapped else self.data

    @property
    def swapped(self) -> bool:
        """Whether ``code_groups()`` swapped the dataset's groups."""
        return self._computed("code_groups")

    @step
    def code_groups(self) -> bool:
        """``unprivileged: auto`` = the group with the lower baseline val F1 becomes group 0 (recorded);
        returns whether the dataset's groups are swapped."""
        _, ckpt = self.train_baseline()
        setting = self.cfg.dataset.unprivileged
        f1 = {c: ckpt["val"]["per_group"][c]["f1_macro"] for c in (0, 1)}
        swap = bool((setting == 1) or (setting == "auto" and f1[1] < f1[0]))
        names = dict(self.data.group_names)
        self.store.set_meta(self.run_id, "groups", {
            "unprivileged_setting": setting, "swapped": swap,
            "names": {0: names[1], 1: names[0]} if swap else names, "baseline_val_f1_by_dataset_group": f1,
        })
        return swap

    @property
    def brings_model(self) -> bool:
        """True when the study audits a trained model it was given instead of training one."""
        m = self.cfg.model
        return bool(m.file or m.weights or m.entry)

    def _given_model(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        """Your trained model, with the checkpoint metadata the later stages read."""
        from ..models.user import load_trained

        s, m = self.load_data(), self.cfg.model
        model = load_trained(m, s.num_classes, s.image_size)
        source = m.file or m.weights or m.entry
        digest = file_digest(source) if (m.file or m.weights) else source
        ckpt = {"key": config_hash({"given": digest, "name": m.name, "data": s.fingerprint()}), "best_epoch": None,
                "history": [], "seconds": 0.0, "given": str(source),
                **{split: evaluate(model, getattr(s, split), "cpu", s.num_classes) for split in ("val", "test")}}
        return model.to(self.device).eval(), ckpt

    @property
    def baseline(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The pre-trained model and its checkpoint metadata, as ``train_baseline()`` made them."""
        return self._computed("train_baseline")

    @step
    def train_baseline(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The pre-trained model (trained once, then loaded, or given) with its checkpoint metadata."""
        if self.brings_model:
            return self._given_model()
        s = self.load_data()
        m = self.cfg.model
        torch.manual_seed(self.cfg.seed)  # weight init is part of the experiment: seed it
        model = build(m.name, s.num_classes, s.image_size, pretrained=m.pretrained)
        tc = TrainConfig(**self.cfg.train.model_dump(), seed=self.cfg.seed)
        init = {"pretrained": file_digest(m.pretrained)} if m.pretrained else None
        ckpt = train(model, m.name, s, tc, self._seed_folder() / "model.pt", self.device, self.progress, init=init)
        self._record_timing("train", ckpt["seconds"])  # the training itself, also when loaded
        model.to(self.device).eval()
        return model, ckpt

    # ---- saliency ----------------------------------------------------------------------
    def _group_batches(self) -> dict[int, list[tuple[torch.Tensor, torch.Tensor]]]:
        sal = self.cfg.saliency
        return group_batches(self.splits.train, int(sal.samples_per_group), int(sal.batch_size),
                             saliency_batches_seed(self.cfg.seed), self.device)

    @step
    def compute_curvature(self) -> dict[int, dict[str, torch.Tensor]]:
        """Per-group curvature of the baseline (cached in the seed's folder by its settings)."""
        model, ckpt = self.train_baseline()
        sal = self.cfg.saliency
        key = config_hash({"ckpt": ckpt["key"], "sal": {k: getattr(sal, k) for k in ("estimator", "samples_per_group",
                           "batch_size", "probes")}, "swap": self.code_groups(),
                           "seed": self.cfg.seed})
        path = self._seed_folder() / f"curvature-{key}.pt"
        if path.is_file():
            return load_torch_file(path, "curvature cache")
        t0 = time.time()
        curv = curvature(model, self._group_batches(), sal.estimator, probes=sal.probes, seed=self.cfg.seed)
        curv = {c: {k: v.cpu() for k, v in h.items()} for c, h in curv.items()}
        atomic_torch_save(curv, path)
        self._timed("saliency", t0)
        return curv

    @step
    def compute_saliency(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Fairness and accuracy saliency of every weight, with the report's figure data recorded."""
        model, _ = self.train_baseline()
        s, a = saliencies(model, self.compute_curvature(), float(self.cfg.saliency.beta))
        self._record_saliency(s, a)
        return s, a

    def _record_saliency(self, s: dict[str, torch.Tensor], a: dict[str, torch.Tensor]) -> None:
        """Figure data for the report (Figs. 4 and 5), kept in the DB so reports need only the DB."""
        names = list(s)
        picks = {"first": names[0], "middle": names[len(names) // 2], "last": names[-1]}
        ranks = {}
        for label, name in picks.items():
            r_s, r_a = rank_pairs(s[name], a[name], max_points=3000, seed=self.cfg.seed)
            ranks[label] = {"layer": name, "fairness_rank": r_s.round(4).tolist(), "accuracy_rank": r_a.round(4).tolist()}
        fractions = {}
        for target in self.cfg.sweep.targets:
            for method in ("FR", *self.plan.fa_labels()):
                fractions[fraction_key(method, target)] = layer_fractions(self.masks(method, target, s, a))
        self.store.set_meta(self.run_id, "saliency", {"ranks": ranks, "layer_fractions": fractions,
                                                      "layers": names})

    def masks(self, method: str, target: float | None, s: dict | None = None, a: dict | None = None
              ) -> dict[str, torch.Tensor] | None:
        """The weights ``method`` targets at fraction ``target``; None for a method that targets
        none (errors on every weight)."""
        if not MethodLabel.split(method).needs_masks:
            return None
        if target is None:
            raise ValueError(f"method '{method}' targets weights: it needs a target fraction")
        if s is None or a is None:
            s, a = self.compute_saliency()
        # labels are canonical (plan.label): a rule other than the default is named in the label
        return masks_from_saliency(s, a, method, float(target), seed=self.cfg.seed)

    # ---- Monte-Carlo sweep ---------------------------------------------------------------
    @cached_property
    def evaluator(self) -> ChipEvaluator:
        """Chips of the baseline on the test split (after ``code_groups()``)."""
        model, _ = self.baseline
        return ChipEvaluator(model, self.splits.test, self.splits.num_classes, self.device,
                             self.cfg.model.digital_layers)

    def _jobs(self, cells: list[tuple[Any, Any]]) -> list[tuple[Any, Any, Any]]:
        return [(cell, p, self.masks(cell.method, cell.target)) for cell, p in cells]

    def record_baseline(self) -> None:
        model, ckpt = self.train_baseline()
        self.code_groups()
        arms.write_ideal_row(self.store, self.run_id, BASELINE_KEY, self.cfg.seed, self.evaluator, model, self.device,
                             kind=RowKind.BASELINE, method="none", target=None)
        self.store.set_meta(self.run_id, "baseline", {
            "test_bootstrap": self._test_bootstrap(model),
            "best_epoch": ckpt["best_epoch"], "history": ckpt["history"], "train_seconds": ckpt["seconds"],
            "val": {k: v for k, v in evaluate(model, self.splits.val, self.device, self.splits.num_classes).items()
                    if k not in ("undefined",)},
        })

    def _test_bootstrap(self, model: torch.nn.Module) -> dict[str, Any]:
        """The pre-trained model's stratified bootstrap over test images: computed once per run
        (the run id fixes the model and the split), then read back on every resume."""
        stored = (self.store.get_meta(self.run_id, "baseline", {}) or {}).get("test_bootstrap")
        if stored and stored.get("resamples") == BOOTSTRAP_RESAMPLES:
            return stored
        test = self.splits.test
        preds = predict_logits(model, test, self.device).argmax(1).cpu().numpy()
        interval = stratified_bootstrap(test.labels.numpy(), preds, test.groups.numpy(), self.splits.num_classes,
                                        resamples=BOOTSTRAP_RESAMPLES, seed=self.cfg.seed)
        return {"resamples": BOOTSTRAP_RESAMPLES, "level": 0.95, "strata": "group × class",
                **{k: list(v) for k, v in interval.items()}}

    def inject(self) -> int:
        self.record_baseline()
        t0 = time.time()
        n = run_cells(self.evaluator, self._jobs(self.plan.sweep_cells()), self.store, self.run_id,
                      self.cfg.sweep.trials, self.cfg.seed, self.executor, progress=self.progress,
                      desc=f"{self.name}: Monte-Carlo chips")
        if n:
            self._timed("inject", t0)
        return n

    def drift(self) -> int:
        dr = self.cfg.drift
        if not dr.times or not dr.presets:
            return 0
        self.code_groups()
        t0 = time.time()
        n = run_cells(self.evaluator, self._jobs(self.plan.drift_cells()), self.store, self.run_id,
                      dr.trials or self.cfg.sweep.trials, self.cfg.seed, self.executor,
                      drift_times=[float(t) for t in dr.times], progress=self.progress,
                      desc=f"{self.name}: drift chips")
        if n:
            self._timed("drift", t0)
        return n

    # ---- mitigation arms ------------------------------------------------------------------
    def expected_cells(self) -> set[str]:
        """Every row key the current config asks for: reports show exactly these."""
        return self.plan.expected_cells()

    def arm_model(self, arm: str) -> torch.nn.Module:
        """A retrained copy of the baseline for one arm (cached on disk by its settings)."""
        model, ckpt = self.train_baseline()
        self.code_groups()
        arm_model, seconds, info = arms.arm_model(arm, model, ckpt["key"], self.splits, self.plan, self._seed_folder(),
                                                  self.device, self.cfg.seed, self.progress)
        if seconds is not None:
            self._record_timing(f"retrain {arm}", seconds)
        selection = dict(self.store.get_meta(self.run_id, "arm_training", {}) or {})
        selection[ARM_LABELS[arm]] = {"steps": self.cfg.retrain.steps, **info}
        self.store.set_meta(self.run_id, "arm_training", selection)
        return arm_model

    def retrain(self) -> int:
        """Every retraining arm on ideal hardware and on the sweep's hardware, and their diagnostics."""
        rt = self.cfg.retrain
        if not rt.arms:
            return 0
        models = {"pre-trained": self.train_baseline()[0]}
        total = 0
        for arm in rt.arms:
            models[ARM_LABELS[arm]] = model = self.arm_model(arm)
            t0 = time.time()
            n = arms.evaluate_arm(arm, model, self.splits, self.plan, self.store, self.run_id, self.cfg.seed,
                                  self.device, self.executor, self.progress, f"{self.name}: {ARM_LABELS[arm]} chips")
            if n:
                self._timed(f"evaluate {arm}", t0)
            total += n
        stored = self.store.get_meta(self.run_id, "diagnostics", {}) or {}
        wanted = self.plan.diagnostic_models()
        if total or set(stored) != wanted:  # a resume with nothing new keeps them (minutes on a CPU)
            t0 = time.time()  # power iterations per group; 0 = no diagnostics
            diag = arms.diagnostics(models, self._group_batches(), int(rt.diagnostic_iters))
            self.store.set_meta(self.run_id, "diagnostics", diag)
            if diag:
                self._timed("diagnostics", t0)
        return total

    def prune(self) -> int:
        """Pruning arms (stuck-at-zero) on ideal hardware: one deterministic row per kind × sparsity."""
        if not self.cfg.prune.kinds:
            return 0
        self.code_groups()
        t0 = time.time()
        n = arms.run_pruning(self.train_baseline()[0], self.compute_curvature, self.splits, self.plan, self.store,
                             self.run_id, self.cfg.seed, self.evaluator, self.device)
        if n:
            self._timed("prune", t0)
        return n

    def environment(self) -> dict[str, Any]:
        """Record the machine and the dataset the run computed on (what the report's provenance says)."""
        self.code_groups()
        info = environment_info(self.device)
        self.store.set_meta(self.run_id, "environment", info)
        self.store.set_meta(self.run_id, "dataset", {
            "name": self.splits.name, "synthetic": self.splits.synthetic, "class_names": self.splits.class_names,
            "sizes": {k: len(getattr(self.splits, k)) for k in ("train", "val", "test")},
            "image_size": self.splits.image_size, "info": self.splits.info,
            "fingerprint": self.splits.fingerprint()})
        return info

    def report_dir(self, claim: bool = False) -> Path:
        """``docs/reports/NAME``, refused if another study or audit wrote it; ``claim`` marks it ours."""
        return report_folder(self.name, owner_of(self.cfg), claim)

    def prepare(self) -> None:
        """Everything the chip stages need: trained baseline, group coding, saliency, recorded environment."""
        self.train_baseline()
        self.environment()
        self.compute_saliency()

    PREPARE = PREPARE  # what every later stage of a seed reads (model, curvature, saliency): eta.PREPARE

    def stages(self) -> dict[str, Callable[[], Any]]:
        """This seed's stages in the order they run, by the names the study's clock counts."""
        return {"train": self.train_baseline, "saliency": lambda: (self.environment(), self.compute_saliency()),
                "sweep": self.inject, "arms": self.retrain, "prune": self.prune, "drift": self.drift}

    def compute_all(self, clock: StageListener | None = None) -> None:
        """Every stage of this seed that is not done yet; ``clock`` hears when each one ends."""
        self.compute_stages(list(self.stages()), clock)

    def compute_stages(self, names: list[str], clock: StageListener | None = None) -> None:
        """The stages ``names`` of this seed, in that order (those after ``PREPARE`` need it done,
        and need nothing of each other: workers run them side by side)."""
        stages = self.stages()
        for stage in names:
            t0 = time.monotonic()
            if clock is not None:
                clock.begin(self.cfg.seed, stage)
            stages[stage]()
            if stage == "train":
                self.time_test_evaluation()
            if clock is not None:
                clock.finished(self.cfg.seed, stage, time.monotonic() - t0)

    def time_test_evaluation(self) -> float:
        """Seconds of one digital evaluation of the model on the test split, timed in this process
        (the second of two: the first warms up): the unit "eval-equivalent" of the study's cost
        (docs/benchmarks.md); recorded for the report's compute line."""
        model, _ = self.train_baseline()
        test = self.data.test
        predict_logits(model, test, self.device)
        t0 = time.perf_counter()
        predict_logits(model, test, self.device)
        seconds = time.perf_counter() - t0
        self.store.set_meta(self.run_id, "eval_seconds", round(seconds, 4))
        return seconds

    def predicted_work(self) -> dict[str, float]:
        """One seed's predicted cost of each stage in eval-equivalents, from the plan and the data."""
        s = self.load_data()
        return predicted_work(self.plan, len(s.train), len(s.val), len(s.test), trains=not self.brings_model)

    def missing(self) -> list[str]:
        """What this seed's stored rows lack of the current plan, stage by stage (empty: complete)."""
        return missing(self.plan, self.store.done(self.run_id), self.store.get_meta(self.run_id, "diagnostics", {}))

    def incomplete(self, command: str | None = None) -> str:
        """One line saying what this seed's stored rows lack and ``command``, which finishes them
        ("" when complete)."""
        return incomplete_line({self.cfg.seed: self.missing()}, command or default_command(self.cfg))
