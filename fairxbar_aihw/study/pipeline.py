"""A seed's computing context: data, baseline, saliency cache and store, for the stages to use.

Stage outputs live under ``runs/<study>/``: the best-on-val checkpoint, the curvature cache and
``results.sqlite``. The run id is the hash of the resolved config minus the trial counts and
the device (``stored.run_config_for_hash``), so asking for more trials later extends a run
instead of starting over. The stages themselves (what each computes, in which order, at what
cost) are the registry in ``stages.py``; this module holds what they share. The engine computes
and stores; the report is written from the database by the application layer (``app``).
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
from ..rng import saliency_batches_seed
from ..safe_files import safe_mkdir
from ..saliency import curvature, group_batches, masks_from_saliency, saliencies
from ..saliency.methods import MethodLabel
from ..store import config_hash
from ..torchfiles import atomic_torch_save, load_torch_file
from ..training import TrainConfig, evaluate, train
from ..training.loop import file_digest
from .chips import ChipEvaluator
from .executors import Executor, LocalExecutor
from .plan import Cell
from .runfolder import SharedFolder, open_shared_folder
from .schema import StudyConfig
from .stored import StoredRun, run_config_for_hash

T = TypeVar("T")


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


class StudyRun(StoredRun):
    """One resolved study seed, ready to compute: the context the stages (``stages.REGISTRY``) run
    in. The steps they share (``load_data``, ``train_baseline``, ``code_groups``,
    ``compute_curvature``, ``compute_saliency``) run once per run object and are cached on disk
    where slow; properties (``baseline``, ``splits``, ...) read what a step computed and never write."""

    def __init__(self, cfg: StudyConfig, data_root: str | None = None, progress: bool = True,
                 fresh: bool = False, tag: str = "", executor: Executor | None = None,
                 folder: "SharedFolder | None" = None):
        """One seed of a study: ``cfg.seed``. ``executor`` runs the chips (default: in this process).
        ``folder`` is the run folder (path and database) shared by all seeds of a ``Study``; without
        it the run opens (and locks) its own."""
        name = check_name(cfg.name + tag, "run")
        self._owns_folder = folder is None
        if folder is None:
            folder = open_shared_folder(name, cfg, fresh)
        self.device = resolve_device(cfg.device)
        super().__init__(cfg, folder, tag, run_id=folder.store.register_run(name, run_config_for_hash(cfg)))
        self.executor = executor or LocalExecutor()
        self._results: dict[str, Any] = {}
        self.progress = progress
        self.data_root = data_root or cfg.dataset.root

    @property
    def files(self) -> Path:
        """This seed's cached files (model, curvature, arm checkpoints) inside the run folder
        (created by ``seed_folder`` before the first file is written there)."""
        return self.workdir / f"seed-{self.cfg.seed}"

    def seed_folder(self) -> Path:
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
            self.folder.close()

    # ---- data and baseline -------------------------------------------------------------
    @step
    def load_data(self) -> Splits:
        """The dataset's splits in the dataset's own group coding (what the baseline trains on)."""
        ds = self.cfg.dataset
        t0 = time.time()
        splits = load(ds.name, seed=self.cfg.seed, size=ds.size, root=self.data_root,
                      balance=ds.balance, progress=self.progress, **ds.loader_params())
        if "data" not in self.meta("timings", {}):  # the first load's, as every stage's timing
            self.record_timing("data", time.time() - t0)
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
            **({"values": self.data.test.value_names} if self.data.test.value_names is not None else {}),
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
        ckpt = train(model, m.name, s, tc, self.seed_folder() / "model.pt", self.device, self.progress, init=init)
        self.record_timing("train", ckpt["seconds"])  # the training itself, also when loaded
        model.to(self.device).eval()
        return model, ckpt

    # ---- saliency ----------------------------------------------------------------------
    def group_batches(self) -> dict[int, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The training images each group's curvature is estimated on (fixed by the seed)."""
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
        path = self.seed_folder() / f"curvature-{key}.pt"
        if path.is_file():
            return load_torch_file(path, "curvature cache")
        t0 = time.time()
        curv = curvature(model, self.group_batches(), sal.estimator, probes=sal.probes, seed=self.cfg.seed)
        curv = {c: {k: v.cpu() for k, v in h.items()} for c, h in curv.items()}
        atomic_torch_save(curv, path)
        self.record_timing("saliency", time.time() - t0)
        return curv

    @step
    def compute_saliency(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Fairness and accuracy saliency of every weight (the saliency stage records its figure data)."""
        model, _ = self.train_baseline()
        return saliencies(model, self.compute_curvature(), float(self.cfg.saliency.beta))

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

    # ---- chips -------------------------------------------------------------------------
    @cached_property
    def evaluator(self) -> ChipEvaluator:
        """Chips of the baseline on the test split (after ``code_groups()``)."""
        model, _ = self.baseline
        return ChipEvaluator(model, self.splits.test, self.splits.num_classes, self.device,
                             self.cfg.model.digital_layers)

    def jobs(self, cells: list[tuple[Cell, Any]]) -> list[tuple[Cell, Any, Any]]:
        """Each cell with its hardware and the weights its method targets (what ``run_cells`` takes)."""
        return [(cell, p, self.masks(cell.method, cell.target)) for cell, p in cells]
