"""One seed's run as its results database holds it: what reports, exports and progress read.

Why apart from ``StudyRun``: a report renders from the database alone, so reading a run must not
load torch, aihwkit or a model (``fairxbar-aihw report`` then starts in a fraction of the time).
``StudyRun`` extends this view with the computing context; both name a run by the same id.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError
from ..paths import check_name
from ..store import ResultsStore, config_hash
from .plan import StudyPlan
from .progress import default_command, incomplete_line, missing
from .runfolder import SharedFolder, owner_of, report_folder
from .schema import GROUP_OPTIONS, TABLE_OPTIONS, StudyConfig

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


def run_id_of(cfg: StudyConfig) -> str:
    """The id of the run ``cfg`` (one seed) computes: the hash of ``run_config_for_hash``."""
    return config_hash(run_config_for_hash(cfg))


class StoredRun:
    """One seed of a study in its run folder: its config, plan, rows and metadata. Reads only."""

    def __init__(self, cfg: StudyConfig, folder: SharedFolder, tag: str = "", run_id: str | None = None):
        """Seed ``cfg.seed`` in the shared ``folder``; without ``run_id`` the run must already be stored
        (a report of a seed never computed is refused with the command that computes it)."""
        self.cfg = cfg
        self.plan = StudyPlan(cfg)
        self.name = check_name(cfg.name + tag, "run")
        self.folder = folder
        self.workdir: Path = folder.path
        self.store: ResultsStore = folder.store
        if run_id is None:
            run_id = run_id_of(cfg)
            if not self.store.has_run(run_id):
                raise UserError(f"{self.store.path} has no results for seed {cfg.seed} of study '{self.name}' as "
                                "configured now (never run, or its data, model, training or saliency settings "
                                f"changed); run `fairxbar-aihw study {cfg.name} --seeds {cfg.seed}` first")
        self.run_id = run_id

    def meta(self, key: str, default: Any = None) -> Any:
        """This seed's recorded metadata under ``key`` (``default`` where unset)."""
        value = self.store.get_meta(self.run_id, key, default)
        return default if value is None else value

    @property
    def timings(self) -> dict[str, float]:
        """Seconds of each stage this seed computed, as recorded."""
        return dict(self.meta("timings", {}))

    def record_timing(self, stage: str, seconds: float) -> None:
        """One stage's seconds into this seed's timings (merged: another worker may time another stage)."""
        self.store.update_meta(self.run_id, "timings", {stage: round(float(seconds), 2)})

    def expected_cells(self) -> set[str]:
        """Every row key the current config asks for: reports show exactly these."""
        return self.plan.expected_cells()

    def missing(self) -> list[str]:
        """What this seed's stored rows lack of the current plan, stage by stage (empty: complete)."""
        return missing(self.plan, self.store.done(self.run_id), self.meta("diagnostics", {}))

    def incomplete(self, command: str | None = None) -> str:
        """One line saying what this seed's stored rows lack and ``command``, which finishes them
        ("" when complete)."""
        return incomplete_line({self.cfg.seed: self.missing()}, command or default_command(self.cfg))

    def report_dir(self, claim: bool = False) -> Path:
        """``docs/reports/NAME``, refused if another study or audit wrote it; ``claim`` marks it ours."""
        return report_folder(self.name, owner_of(self.cfg), claim)
