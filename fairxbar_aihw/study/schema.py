"""The typed study configuration: one pydantic model per section, each field with its default,
range and one-line doc in one place.

Each stage's own section lives on that stage's floor (``training/config.py``,
``saliency/config.py``, ``retrain/config.py``) and travels down to it unchanged; the sections only
the study reads live here. Checks that span sections or need other files (presets, drift times)
live in ``config.check_consistency``.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ..data.catalog import DATASET_NAMES
from ..errors import listing
from ..metrics.registry import VALUE_PREFIX
from ..retrain.config import PruneSection, RetrainSection
from ..saliency.config import Method, SaliencySection
from ..sections import Section
from ..training.config import TrainSection

__all__ = ["GROUP_OPTIONS", "MAX_SEED", "SECTIONS", "TABLE_OPTIONS", "HardwareEntry", "Method", "PruneSection",
           "RetrainSection", "SaliencySection", "Section", "StudyConfig", "TrainSection"]

TABLE_OPTIONS = ("file", "groups_file", "image_column", "label_column", "group_column", "privileged", "classes")
# groups from pixels (data/skin_tone.py) and the k-group reading (data/groups.py)
GROUP_OPTIONS = ("group_from", "ita_threshold", "groups", "ita_bands", "min_group_size")
MAX_SEED = 2**63 - 1  # the results database stores seeds as SQLite INTEGER (signed 64-bit); torch takes < 2**64

DatasetName = Literal[DATASET_NAMES]  # type: ignore[valid-type]


class DatasetSection(Section):
    name: DatasetName = Field("synthderm", description="a registered dataset (the type lists them): "
                             "synthderm is embedded and SYNTHETIC; csv and folder read your own images "
                             "(docs/bring-your-own.md)")
    size: int = Field(32, ge=8, le=512, description="image side in pixels (the paper: 128)")
    params: dict[str, Any] = Field(default_factory=dict, description="dataset parameters: synthderm n, num_classes, "
                                   "light_fraction, difficulty; fitzpatrick17k num_labels (114/9/3)")
    balance: bool = Field(True, description="subsample so both groups have equal sample counts (the paper)")
    unprivileged: Literal["auto", 0, 1] = Field("auto", description="which dataset group is unprivileged: auto = "
                                                "the one with the lower baseline validation F1")
    root: str | None = Field(None, description="dataset root folder (or --data-root)")
    file: str | None = Field(None, description="csv: the labels CSV under the root (default labels.csv)")
    groups_file: str | None = Field(None, description="folder: the CSV mapping images to groups (default "
                                    "groups.csv)")
    image_column: str | None = Field(None, description="csv/folder: column with image paths relative to the root "
                                     "(default image)")
    label_column: str | None = Field(None, description="csv: column with labels (default label)")
    group_column: str | list[str] | None = Field(None, description="csv/folder: column with the group value "
                                                 "(default group); several columns: their intersections are the "
                                                 "values (`light × F`)")
    privileged: str | list[str] | None = Field(None, description="csv/folder: the group value(s) that are "
                                               "privileged (group 1; a list or `I,II,III`); every other value is "
                                               "unprivileged (group 0) and keeps its own per-value rows")
    classes: list[str] | None = Field(None, description="csv/folder: every label in your model's output order "
                                      "(default: labels sorted)")
    group_from: Literal["ita"] | None = Field(None, description="ita: groups from the pixels, light (Individual "
                                              "Typology Angle above ita_threshold) = group 1, dark = group 0; for "
                                              "datasets without a group column (default: the dataset's own groups)")
    ita_threshold: float | None = Field(None, ge=-90, le=90, description="with group_from: ita, the light/dark "
                                        "boundary in degrees (default 28: intermediate vs tan, Fitzpatrick III/IV)")

    groups: Literal["two", "all"] | None = Field(None, description="which groups the claims and the yield judge: "
                                                 "two (unset): the paper's privileged/unprivileged pair; all: every "
                                                 "group value (synthderm, fitzpatrick17k: Fitzpatrick I-VI; "
                                                 "csv/folder: every value of group_column; group_from ita: the ITA "
                                                 "bands), on the worst-pair gap")
    ita_bands: list[float] | None = Field(None, description="with groups: all and group_from: ita, the band "
                                          "boundaries in degrees, lightest first (default: the six standard "
                                          "categories, Del Bino & Bernerd 2013)")
    min_group_size: int | None = Field(None, ge=1, description="with groups: all, the test images every group value "
                                       "needs (default 30)")

    def loader_params(self) -> dict[str, Any]:
        """What the dataset's loader takes: ``params`` plus the table and group options that are set."""
        table = {k: getattr(self, k) for k in TABLE_OPTIONS + GROUP_OPTIONS if getattr(self, k) is not None}
        return {**(self.params or {}), **table}


class ModelSection(Section):
    name: str = Field("small-cnn", description="architecture: small-cnn, resnet18, vgg11, vgg11_bn, or with "
                      "`weights` any torchvision classification model name")
    pretrained: str | None = Field(None, description="a local weights file (never downloaded)")
    file: str | None = Field(None, description="your trained model file: ONNX (.onnx; data, rebuilt from vetted "
                             "operators), or with `trust_code` a torch.export (.pt2) or TorchScript file (code): the "
                             "study skips training; `model.torchscript` is read as this key")
    trust_code: bool = Field(False, description="load a .pt2 or TorchScript `file`, which runs the file's code (as "
                             "`entry` runs yours); ONNX never needs it")
    weights: str | None = Field(None, description="your trained model's state dict (loaded weights_only) for "
                                "`name`: the study skips training")
    entry: str | None = Field(None, description="trusted Python `module:function` returning your trained "
                              "nn.Module (it runs code): the study skips training")
    digital_layers: list[str] = Field(default_factory=list, description="conv/linear module names kept digital "
                                      "and exact; every other conv/linear layer is on crossbars")

    @model_validator(mode="before")
    @classmethod
    def _format_neutral_key(cls, data: Any) -> Any:
        """``torchscript:`` was this key's name when only compiled torch files were read."""
        if isinstance(data, dict) and "torchscript" in data:
            if data.get("file") is not None:
                raise ValueError("give model.file only (model.torchscript is its old name)")
            data = {**{k: v for k, v in data.items() if k != "torchscript"}, "file": data["torchscript"]}
        return data


class HardwareEntry(Section):
    preset: str = Field(description="a preset name or a path to a preset .yaml")
    intensities: list[float] | None = Field(None, description="values of the preset's intensity knob "
                                            "(default: the preset's own)")
    overrides: dict[str, Any] | None = Field(None, description="preset keys to change")


class SweepSection(Section):
    methods: list[Method] = Field(["uniform", "random", "FR", "FR-matched", "F+A R"],
                                  description="targeting methods; F+A R, random and FR-matched may name a rule, "
                                  "e.g. \"F+A R [intersect]\"")
    targets: list[float] = Field([0.05], min_length=1, description="target fractions x in (0, 1]")
    hardware: list[HardwareEntry] = Field([HardwareEntry(preset="paper-variation")], min_length=1,
                                          description="presets and intensities")
    trials: int = Field(30, ge=1, le=100000, description="Monte-Carlo chips per cell (the paper: 100)")


class DriftSection(Section):
    times: list[float] = Field(default_factory=list, description="inference times in seconds after programming "
                               "(at most 100 years)")
    presets: list[str] = Field(default_factory=list, description="technologies to drift (their own intensity)")
    methods: list[Method] | None = Field(None, description="default: the sweep's methods")
    target: float | None = Field(None, gt=0, le=1, description="default: the first sweep target")
    trials: int | None = Field(None, ge=1, description="default: the sweep's trials")


class ClaimsSection(Section):
    gap: Literal["eodds_bc", "eodds"] = Field(
        "eodds_bc", description="gap metric the claims are judged on: eodds_bc (bias-corrected, Cai & Low 2011) or "
        "eodds (raw, the paper's printed sum; inflated by test-set sampling and by noise-like chip errors)")
    equivalence_eodds: float = Field(0.10, gt=0, lt=1, description="equivalence margin: ± this share of the "
                                     "pre-trained gap (two one-sided tests)")
    equivalence_f1: float = Field(0.01, gt=0, lt=1, description="equivalence margin on pooled F1 for 'beats' claims "
                                  "(0.01 = 1 point)")
    noninferiority_eodds: float = Field(0.10, gt=0, lt=1, description="a 'beats' row carried by F1 holds only when "
                                        "its gap is shown not to rise by this share of the pre-trained gap")
    noninferiority_f1: float = Field(0.01, gt=0, lt=1, description="a 'beats' row carried by the gap holds only when "
                                     "its pooled F1 is shown not to fall by this much (0.01 = 1 point)")
    paper_fraction: float = Field(0.5, gt=0, le=1, description="'reproduced' needs the relative change's interval to "
                                  "exclude effects smaller than this share of the paper's magnitude")


class YieldSpecSection(Section):
    max_eodds_increase: float = Field(0.05, ge=0, description="a chip meets the fairness spec when its gap is at "
                                      "most this much above the digital (pre-trained) model's")
    max_f1_drop: float = Field(0.01, ge=0, le=1, description="... and its pooled F1 (eq. 3) at most this much "
                               "below the digital model's (0.01 = 1 point)")
    max_group_accuracy_drop: float | None = Field(None, ge=0, le=1, description="with dataset.groups: all, no "
                                                  "group may lose more accuracy than this against the digital "
                                                  "model (default 0.05 = 5 points)")
    gap: Literal["eodds", "eodds_bc"] | None = Field(None, description="gap metric of the spec: eodds (raw, the "
                                                     "paper's printed sum) or eodds_bc (bias-corrected); unset: the "
                                                     "claims' gap (`claims.gap`)")


class StudyConfig(Section):
    """A resolved study. ``name`` and ``quick_mode`` are set by the loader, not by the file."""

    description: str = Field("", description="one paragraph on what the study is for")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="(set per replicate from seeds; a file may give `seed: N` "
                      "for one seed)")
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(
        [0, 1, 2], min_length=1, max_length=100, description="training seeds: each one is a full replicate (data "
        "split or generation, weight init, data order, probes, chips); verdicts need the same answer across them")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="cpu or cuda")
    dataset: DatasetSection = Field(default_factory=DatasetSection)
    model: ModelSection = Field(default_factory=ModelSection)
    train: TrainSection = Field(default_factory=TrainSection)
    saliency: SaliencySection = Field(default_factory=SaliencySection)
    sweep: SweepSection = Field(default_factory=SweepSection)
    drift: DriftSection = Field(default_factory=DriftSection)
    retrain: RetrainSection = Field(default_factory=RetrainSection)
    prune: PruneSection = Field(default_factory=PruneSection)
    claims: ClaimsSection = Field(default_factory=ClaimsSection)
    yield_spec: YieldSpecSection = Field(default_factory=YieldSpecSection)
    quick: dict[str, Any] = Field(default_factory=dict, description="overrides applied by --quick")
    name: str = Field("", description="(set from the file name)")
    quick_mode: bool = Field(False, description="(set by --quick)")
    _owner: tuple[str, str] = PrivateAttr(("study", ""))  # (kind, source) its folders belong to: runfolder.Owner

    @property
    def owner(self) -> tuple[str, str]:
        """What this study's run and report folders belong to (set by the loader): see ``runfolder.Owner``."""
        return self._owner

    @property
    def reads_every_group(self) -> bool:
        """Whether the claims and the yield judge every group value (``dataset.groups: all``)."""
        return self.dataset.groups == "all"

    def gap_column(self, gap: str) -> str:
        """The stored column of a gap metric: with ``dataset.groups: all`` its k-group reading (the
        worst-pair gap, ``k_`` columns), else the paper's two-group gap."""
        return VALUE_PREFIX + gap if self.reads_every_group else gap

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            repeated = sorted({s for s in seeds if seeds.count(s) > 1})
            raise ValueError(f"seeds must be distinct; repeated: {listing(repeated)}")
        return seeds

    def chips_per_cell(self, stage: Literal["sweep", "drift", "retrain"]) -> int:
        """Monte-Carlo chips per cell of a stage: its own ``trials``, else the sweep's (one default, one place)."""
        return getattr(self, stage).trials or self.sweep.trials

    def for_seed(self, seed: int) -> "StudyConfig":
        """This study as the single replicate ``seed`` (what one StudyRun computes)."""
        return self.model_copy(update={"seed": seed, "seeds": [seed]}, deep=True)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON types) for hashing, storing and printing."""
        return self.model_dump(mode="json")


SECTIONS = {name: field.annotation for name, field in StudyConfig.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section)}
