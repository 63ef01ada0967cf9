"""A study run: every stage cached and resumable (train → saliency → inject sweep → drift → report).

Stage outputs live under ``runs/<study>/``: the best-on-val checkpoint, the curvature cache and
``results.sqlite``. The run id is the hash of the resolved config minus the trial counts and
the device, so asking for more trials later extends a run instead of starting over.
"""
from __future__ import annotations

import copy
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from ..data import Splits, load
from ..errors import UserError
from ..hardware import Preset, load_preset
from ..models import build
from ..paths import check_name, inside, reports_dir, runs_dir
from ..saliency import curvature, group_batches, layer_fractions, masks_from_saliency, rank_pairs, saliencies
from ..store import ResultsStore, config_hash
from ..retrain import (ARM_LABELS, RetrainConfig, fairprune_masks, finetune, group_diagnostics, hwa_train,
                       magnitude_prune_masks, prune_and_finetune, refresh_masks)
from ..training import TrainConfig, evaluate, predict_logits, train
from ..provenance import environment_info
from ..torchfiles import atomic_torch_save, load_torch_file
from .montecarlo import Cell, ChipEvaluator, cell_key, run_cells
from .runfolder import existing_run_folder, open_run_folder
from .schema import StudyConfig

RUN_KEYS = ("seed", "dataset", "model", "train", "saliency")


def run_config_for_hash(cfg: StudyConfig) -> dict[str, Any]:
    """What every row of a run depends on: the data, the pre-trained model and its saliency.

    Sweep, drift, retraining and pruning entries only add cells (each cell key carries a hash of
    its resolved preset or arm config), so extending a study extends its run.
    """
    data = cfg.as_dict()
    return {k: data[k] for k in RUN_KEYS}


def preset_tag(preset: Preset) -> str:
    return config_hash(preset.values)[:8]


def knob(x: float | None) -> float:
    """A cell's intensity: 0 for presets without an intensity knob (e.g. ``ideal``)."""
    return 0.0 if x is None else float(x)


def resolve_device(device: str) -> str:
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"unknown device '{device}'; use cpu or cuda")
    return device


class StudyRun:
    """One resolved study: lazily computes and caches each stage."""

    def __init__(self, cfg: StudyConfig, data_root: str | None = None, progress: bool = True,
                 fresh: bool = False, tag: str = "", backend: str = "local", address: str | None = None,
                 read_only: bool = False):
        """``read_only`` opens an existing run for reports and exports: it computes, creates and
        deletes nothing, and fails if the study has no results for this configuration."""
        if backend not in ("local", "ray"):
            raise UserError(f"unknown backend '{backend}'; use local or ray")
        self.backend = backend
        self.address = address
        self.cfg = cfg
        self.name = check_name(cfg.name + tag, "run")
        self.progress = progress
        self.data_root = data_root or cfg.dataset.root
        self._lock = None
        if read_only:
            self.device = cfg.device
            self.workdir = existing_run_folder(runs_dir(), self.name, cfg.name)
            self.store = ResultsStore(self.workdir / "results.sqlite", read_only=True)
            self.run_id = config_hash(run_config_for_hash(cfg))
            if not self.store.has_run(self.run_id):
                raise UserError(f"{self.store.path} has no results for study '{self.name}' as configured now "
                                f"(its data, model, training or saliency settings changed); run "
                                f"`fairxbar-aihw study {cfg['name']}` first")
        else:
            self.device = resolve_device(cfg.device)
            self.workdir, self._lock = open_run_folder(runs_dir(), self.name, fresh)
            self.store = ResultsStore(self.workdir / "results.sqlite")
            self.run_id = self.store.register_run(self.name, run_config_for_hash(cfg))
        self.timings: dict[str, float] = dict(self.store.get_meta(self.run_id, "timings", {}) or {})

    def close(self) -> None:
        """Release the run folder's lock and the database (also done when the process ends)."""
        self.store.close()
        if self._lock is not None:
            self._lock.close()

    def _timed(self, stage: str, t0: float) -> None:
        self.timings[stage] = round(time.time() - t0, 2)
        self.store.set_meta(self.run_id, "timings", self.timings)

    # ---- data and baseline -------------------------------------------------------------
    @cached_property
    def data(self) -> Splits:
        """The dataset's splits in the dataset's own group coding (what the baseline trains on)."""
        ds = self.cfg.dataset
        t0 = time.time()
        splits = load(ds.name, seed=self.cfg.seed, size=ds.size, root=self.data_root,
                      balance=ds.balance, progress=self.progress, **(ds.params or {}))
        self._timed("data", t0)
        return splits

    @cached_property
    def splits(self) -> Splits:
        """The splits every later stage uses: group 0 is the study's unprivileged group."""
        return self.data.with_groups_swapped() if self.swapped else self.data

    @cached_property
    def swapped(self) -> bool:
        """``unprivileged: auto`` = the group with the lower baseline val F1 becomes group 0 (recorded)."""
        _, ckpt = self.baseline
        setting = self.cfg.dataset.unprivileged
        f1 = {c: ckpt["val"]["per_group"][c]["f1_macro"] for c in (0, 1)}
        swap = bool((setting == 1) or (setting == "auto" and f1[1] < f1[0]))
        names = dict(self.data.group_names)
        self.store.set_meta(self.run_id, "groups", {
            "unprivileged_setting": setting, "swapped": swap,
            "names": {0: names[1], 1: names[0]} if swap else names, "baseline_val_f1_by_dataset_group": f1,
        })
        return swap

    @cached_property
    def baseline(self) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The pre-trained model (trained once, then loaded) with its checkpoint metadata."""
        s = self.data
        m = self.cfg.model
        torch.manual_seed(self.cfg.seed)  # weight init is part of the experiment: seed it
        model = build(m.name, s.num_classes, s.image_size, pretrained=m.pretrained)
        tc = TrainConfig(**self.cfg.train.model_dump(), seed=self.cfg.seed)
        ckpt = train(model, m.name, s, tc, self.workdir / "model.pt", self.device, self.progress)
        self.timings["train"] = round(float(ckpt["seconds"]), 2)  # the training itself, also when loaded
        self.store.set_meta(self.run_id, "timings", self.timings)
        model.to(self.device).eval()
        return model, ckpt

    # ---- saliency ----------------------------------------------------------------------
    def _group_batches(self) -> dict[int, list[tuple[torch.Tensor, torch.Tensor]]]:
        sal = self.cfg.saliency
        return group_batches(self.splits.train, int(sal.samples_per_group), int(sal.batch_size),
                             self.cfg.seed + 17, self.device)

    @cached_property
    def curvature(self) -> dict[int, dict[str, torch.Tensor]]:
        model, ckpt = self.baseline
        sal = self.cfg.saliency
        key = config_hash({"ckpt": ckpt["key"], "sal": {k: getattr(sal, k) for k in ("estimator", "samples_per_group",
                           "batch_size", "probes")}, "swap": self.swapped,
                           "seed": self.cfg.seed})
        path = self.workdir / f"curvature-{key}.pt"
        if path.is_file():
            return load_torch_file(path, "curvature cache")
        t0 = time.time()
        curv = curvature(model, self._group_batches(), sal.estimator, probes=sal.probes, seed=self.cfg.seed)
        curv = {c: {k: v.cpu() for k, v in h.items()} for c, h in curv.items()}
        atomic_torch_save(curv, path)
        self._timed("saliency", t0)
        return curv

    @cached_property
    def saliency(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        model, _ = self.baseline
        s, a = saliencies(model, self.curvature, float(self.cfg.saliency.beta))
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
            for method in ("FR", "F+A R"):
                fractions[f"{method}|{target}"] = layer_fractions(self.masks(method, target, s, a))
        self.store.set_meta(self.run_id, "saliency", {"ranks": ranks, "layer_fractions": fractions,
                                                      "layers": names})

    def masks(self, method: str, target: float | None, s: dict | None = None, a: dict | None = None
              ) -> dict[str, torch.Tensor] | None:
        if method == "uniform":
            return None
        if s is None or a is None:
            s, a = self.saliency
        return masks_from_saliency(s, a, method, float(target or 0.05), seed=self.cfg.seed)

    # ---- Monte-Carlo sweep ---------------------------------------------------------------
    @cached_property
    def evaluator(self) -> ChipEvaluator:
        model, _ = self.baseline
        return ChipEvaluator(model, self.splits.test, self.splits.num_classes, self.device,
                             self.cfg.model.digital_layers)

    def hardware(self) -> list[tuple[Preset, list[float | None]]]:
        out = []
        for hw in self.cfg.sweep.hardware:
            preset = load_preset(hw.preset, **(hw.overrides or {}))
            intensities = hw.intensities or [preset.intensity]
            out.append((preset, intensities))
        return out

    def sweep_cells(self) -> list[tuple[Cell, Preset]]:
        cells = []
        sw = self.cfg.sweep
        for preset, intensities in self.hardware():
            for x in intensities:
                p = preset if x is None else preset.with_intensity(x)
                for method in sw.methods:
                    if method == "none":
                        continue
                    for target in [None] if method == "uniform" else sw.targets:
                        cells.append((Cell("sweep", preset.name, knob(x), method, target, preset_tag(p)), p))
        return cells

    def sweep_jobs(self) -> list[tuple[Cell, Preset, Any]]:
        return [(cell, p, self.masks(cell.method, cell.target)) for cell, p in self.sweep_cells()]

    def record_baseline(self) -> None:
        model, ckpt = self.baseline
        row = self.evaluator.row(predict_logits(model, self.splits.test, self.device))
        self.store.write_trial(self.run_id, "baseline", 0, self.cfg.seed,
                               {"kind": "baseline", "preset": "ideal", "intensity": None, "method": "none",
                                "target": None, "t_inference": None, "targeted_fraction": 0.0, **row})
        self.store.set_meta(self.run_id, "baseline", {
            "best_epoch": ckpt["best_epoch"], "history": ckpt["history"], "train_seconds": ckpt["seconds"],
            "val": {k: v for k, v in evaluate(model, self.splits.val, self.device, self.splits.num_classes).items()
                    if k not in ("undefined",)},
        })

    def inject(self) -> int:
        self.record_baseline()
        t0 = time.time()
        n = run_cells(self.evaluator, self.sweep_jobs(), self.store, self.run_id, self.cfg.sweep.trials,
                      self.cfg.seed, progress=self.progress, desc=f"{self.name}: Monte-Carlo chips",
                      backend=self.backend, address=self.address)
        if n:
            self._timed("inject", t0)
        return n

    def drift_cells(self) -> list[tuple[Cell, Preset]]:
        dr = self.cfg.drift
        methods = dr.methods or self.cfg.sweep.methods
        target = dr.target or self.cfg.sweep.targets[0]
        cells = []
        for name in dr.presets:
            preset = load_preset(name)
            for method in methods:
                if method != "none":
                    t = None if method == "uniform" else target
                    cells.append((Cell("drift", preset.name, knob(preset.intensity), method, t, preset_tag(preset)),
                                  preset))
        return cells

    def drift_jobs(self) -> list[tuple[Cell, Preset, Any]]:
        return [(cell, p, self.masks(cell.method, cell.target)) for cell, p in self.drift_cells()]

    def drift(self) -> int:
        dr = self.cfg.drift
        if not dr.times or not dr.presets:
            return 0
        t0 = time.time()
        n = run_cells(self.evaluator, self.drift_jobs(), self.store, self.run_id,
                      dr.trials or self.cfg.sweep.trials, self.cfg.seed,
                      drift_times=[float(t) for t in dr.times], progress=self.progress,
                      desc=f"{self.name}: drift chips", backend=self.backend, address=self.address)
        if n:
            self._timed("drift", t0)
        return n

    # ---- mitigation arms (issue: retraining, HWA, boundary, pruning) --------------------------
    def retrain_config(self) -> RetrainConfig:
        rt = self.cfg.retrain
        sal = self.cfg.saliency
        return RetrainConfig(
            steps=rt.steps, lr=float(rt.lr), batch_size=rt.batch_size, refresh_every=rt.refresh_every,
            method=rt.method, target=float(rt.target or max(self.cfg.sweep.targets)),
            alpha=float(rt.alpha), lam=float(rt.lam), chip=rt.chip, estimator=sal.estimator,
            samples_per_group=int(rt.samples_per_group), probes=int(sal.probes), beta=float(sal.beta),
            hwa_noise=float(rt.hwa_noise), digital_layers=list(self.cfg.model.digital_layers))

    def retrain_preset(self) -> Preset:
        """The technology whose errors VA/VFA emulate: retrain.preset, else the first sweep hardware."""
        rt = self.cfg.retrain
        if rt.preset:
            preset = load_preset(rt.preset)
            return preset if rt.intensity is None else preset.with_intensity(rt.intensity)
        preset, intensities = self.hardware()[0]
        x = rt.intensity if rt.intensity is not None else intensities[0]
        return preset if x is None else preset.with_intensity(x)

    def arm_key(self, arm: str) -> str:
        """Hash of everything an arm's retrained model depends on besides the run itself."""
        return config_hash({"arm": arm, "cfg": self.retrain_config().__dict__, "preset": self.retrain_preset().values})

    def retrain_cells(self, arm: str) -> list[tuple[Cell, Preset]]:
        cfg = self.retrain_config()
        only = self.cfg.retrain.presets
        cells = []
        for preset, intensities in self.hardware():
            if only and preset.name not in only:
                continue
            for x in intensities:
                p = preset if x is None else preset.with_intensity(x)
                tag = f"{self.arm_key(arm)[:8]}{preset_tag(p)}"
                cells.append((Cell("retrain", preset.name, knob(x), ARM_LABELS[arm], cfg.target, tag), p))
        return cells

    def prune_cell(self, kind: str, sparsity: float) -> str:
        pr = self.cfg.prune
        return f"prune|{kind}|{sparsity}|" + config_hash({k: getattr(pr, k) for k in ("finetune_steps", "lr", "beta")})[:8]

    def expected_cells(self) -> set[str]:
        """Every row key the current config asks for: reports show exactly these."""
        keys = {"baseline"}
        keys |= {cell_key(c) for c, _ in self.sweep_cells()}
        keys |= {cell_key(c, float(t)) for c, _ in self.drift_cells() for t in self.cfg.drift.times}
        for arm in self.cfg.retrain.arms:
            keys.add(f"retrain-ideal|{ARM_LABELS[arm]}|{self.arm_key(arm)[:8]}")
            keys |= {cell_key(c) for c, _ in self.retrain_cells(arm)}
        keys |= {self.prune_cell(k, s) for k in self.cfg.prune.kinds for s in self.cfg.prune.sparsities}
        return keys

    def arm_model(self, arm: str) -> torch.nn.Module:
        """A retrained copy of the baseline for one arm (cached on disk by config)."""
        model, ckpt = self.baseline
        cfg = self.retrain_config()
        preset = self.retrain_preset()
        path = self.workdir / f"arm-{arm}-{config_hash({'ckpt': ckpt['key'], 'arm': self.arm_key(arm)})}.pt"
        arm_model = copy.deepcopy(model)
        if path.is_file():
            arm_model.load_state_dict(load_torch_file(path, f"{arm} checkpoint"))
            return arm_model.to(self.device).eval()
        t0 = time.time()
        if arm == "hwa":
            arm_model = hwa_train(model, self.splits, preset, cfg, self.device, self.cfg.seed, self.progress)
        else:
            arm_model, _ = finetune(model, self.splits, arm, cfg, preset, self.device, self.cfg.seed, self.progress)
        atomic_torch_save({k: v.cpu() for k, v in arm_model.state_dict().items()}, path)
        self._timed(f"retrain {arm}", t0)
        return arm_model.eval()

    def retrain(self) -> int:
        """Evaluate every retraining arm on the sweep's hardware with the arm's own refreshed masks."""
        rt = self.cfg.retrain
        if not rt.arms:
            return 0
        cfg = self.retrain_config()
        trials = rt.trials or self.cfg.sweep.trials
        batches = self._group_batches()
        model, _ = self.baseline
        iters = int(rt.diagnostic_iters)  # power iterations per group; 0 = no diagnostics (slow on CPUs)
        diagnostics = {"pre-trained": group_diagnostics(model, batches, iters=iters)} if iters else {}
        total = 0
        for arm in rt.arms:
            arm_model = self.arm_model(arm)
            label = ARM_LABELS[arm]
            if iters:
                diagnostics[label] = group_diagnostics(arm_model, batches, iters=iters)
            evaluator = ChipEvaluator(arm_model, self.splits.test, self.splits.num_classes, self.device,
                                      self.cfg.model.digital_layers)
            ideal = evaluator.row(predict_logits(arm_model, self.splits.test, self.device))
            self.store.write_trial(self.run_id, f"retrain-ideal|{label}|{self.arm_key(arm)[:8]}", 0, self.cfg.seed,
                                   {"kind": "retrain-ideal", "preset": "ideal", "intensity": None, "method": label,
                                    "target": None, "t_inference": None, "targeted_fraction": 0.0, **ideal})
            arm_masks = refresh_masks(arm_model, self.splits.train, cfg, self.cfg.seed, self.device)
            jobs = [(cell, p, arm_masks) for cell, p in self.retrain_cells(arm)]
            t0 = time.time()
            n = run_cells(evaluator, jobs, self.store, self.run_id, trials, self.cfg.seed,
                          progress=self.progress, desc=f"{self.name}: {label} chips", backend=self.backend,
                          address=self.address)
            if n:
                self._timed(f"evaluate {arm}", t0)
            total += n
        self.store.set_meta(self.run_id, "diagnostics", diagnostics)
        return total

    def prune(self) -> int:
        """Pruning arms (stuck-at-zero) on ideal hardware: one deterministic row per kind × sparsity."""
        pr = self.cfg.prune
        if not pr.kinds:
            return 0
        model, _ = self.baseline
        done = self.store.done(self.run_id)
        n = 0
        for kind in pr.kinds:
            for sparsity in pr.sparsities:
                cell = self.prune_cell(kind, sparsity)
                if (cell, 0) in done:
                    continue
                masks = (magnitude_prune_masks(model, sparsity) if kind == "magnitude"
                         else fairprune_masks(model, self.curvature, sparsity, float(pr.beta)))
                pruned = prune_and_finetune(model, masks, self.splits, int(pr.finetune_steps), float(pr.lr),
                                            device=self.device, seed=self.cfg.seed, progress=False)
                row = self.evaluator.row(predict_logits(pruned, self.splits.test, self.device))
                self.store.write_trial(self.run_id, cell, 0, self.cfg.seed, {
                    "kind": "prune", "preset": "ideal", "intensity": None, "method": kind, "target": sparsity,
                    "t_inference": None, "targeted_fraction": float(sparsity), **row})
                n += 1
        return n

    def environment(self) -> dict[str, Any]:
        info = environment_info(self.device)
        self.store.set_meta(self.run_id, "environment", info)
        self.store.set_meta(self.run_id, "dataset", {
            "name": self.splits.name, "synthetic": self.splits.synthetic, "class_names": self.splits.class_names,
            "sizes": {k: len(getattr(self.splits, k)) for k in ("train", "val", "test")},
            "image_size": self.splits.image_size, "info": self.splits.info,
            "fingerprint": self.splits.fingerprint()})
        return info

    def report_dir(self) -> Path:
        return inside(reports_dir(), self.name, "report")

    def prepare(self) -> None:
        """Everything the chip stages need: trained baseline, saliency, recorded environment."""
        _ = self.baseline
        self.environment()
        _ = self.saliency

    def run_all(self) -> Path:
        self.prepare()
        self.inject()
        self.retrain()
        self.prune()
        self.drift()
        return self.write_report()

    def write_report(self) -> Path:
        from ..report import write_report

        return write_report(self.store, self.run_id, self.report_dir(), self.cfg, self.expected_cells())
