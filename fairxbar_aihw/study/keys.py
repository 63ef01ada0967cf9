"""Row kinds and row keys as typed values, with one way to write a key and one way to read it back.

Why: a stored row key ("sweep|paper-variation|0.1|F+A R|0.4|d3a5fd1c") names what a row means;
resuming rebuilds it to find a row, progress and the ETA parse it back. Writing and parsing live
here together (with the saliency metadata's "method|target" keys), so no other Python code splits a
key; the one other reader is a SQL prefix match on ``layer|`` (``runfolder._legacy_owner``). The
stored text never changes: tests pin the bundled studies' keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RowKind(StrEnum):
    """What a stored row is (its key's first field and its ``kind`` column). A ``str``: rows, the
    database and data frames hold the plain text."""

    BASELINE = "baseline"  # the pre-trained model on ideal hardware
    SWEEP = "sweep"  # a Monte-Carlo chip of a sweep cell
    DRIFT = "drift"  # a drift chip read at one time
    RETRAIN = "retrain"  # a chip of a retrained arm
    RETRAIN_IDEAL = "retrain-ideal"  # a retrained arm on ideal hardware
    PRUNE = "prune"  # a pruned model on ideal hardware
    LAYER = "layer"  # a per-layer audit chip (study/audit.py)


# How many naming fields each kind's key has before its tag (cells: preset, intensity, method, target).
_FIELDS = {RowKind.BASELINE: 0, RowKind.RETRAIN_IDEAL: 1, RowKind.PRUNE: 2}
_CELL_FIELDS = 4


@dataclass(frozen=True)
class RowKey:
    """A row key: its kind, the fields naming the row (as written), the hash of what else it depends
    on, and for a drift row its time."""

    kind: RowKind
    fields: tuple[str, ...] = ()
    tag: str = ""
    t: float | None = None

    def text(self) -> str:
        """The key as stored."""
        parts = [str(self.kind), *self.fields, *([self.tag] if self.tag else [])]
        return "|".join(parts + ([f"t={self.t:g}"] if self.t is not None else []))

    @classmethod
    def parse(cls, text: str) -> "RowKey":
        """The key ``text()`` wrote (a ValueError for text no kind writes)."""
        parts = text.split("|")
        kind = RowKind(parts[0])
        t = float(parts.pop()[2:]) if len(parts) > 1 and parts[-1].startswith("t=") else None
        n = _FIELDS.get(kind, _CELL_FIELDS)
        if len(parts) - 1 not in (n, n + 1):
            raise ValueError(f"row key '{text}' does not have the fields of a {kind} row")
        return cls(kind, tuple(parts[1:n + 1]), parts[n + 1] if len(parts) > n + 1 else "", t)

    def name(self) -> str:
        """What the row is, in words, without its hash ("VA-Retrain", "magnitude 0.5")."""
        return " ".join([*self.fields, *([f"t={self.t:g}"] if self.t is not None else [])])


BASELINE_KEY = RowKey(RowKind.BASELINE).text()


# Run metadata keys under which an audit records what its report says of the given model
# (``study.audit.Audit.record_report_facts``), so the report reads them without the model.
AUDIT_FACTS = ("crossbar_layers", "digital_only_layers", "num_classes", "model_kind")


def layer_method(layer: str) -> str:
    """The method label of an audit cell with errors on one crossbar layer alone ("layer conv1")."""
    return f"{RowKind.LAYER} {layer}"


def layer_of(method: str) -> str:
    """The crossbar layer a ``layer_method`` label names."""
    prefix = layer_method("")
    if not method.startswith(prefix):
        raise ValueError(f"'{method}' is not a per-layer method label")
    return method[len(prefix):]


def fraction_key(method: str, target: float) -> str:
    """Key of one method's per-layer targeted fractions at one target (the saliency metadata, Fig. 5)."""
    return f"{method}|{target}"


def parse_fraction_key(key: str) -> tuple[str, float]:
    """(method, target) of a ``fraction_key``."""
    method, _, target = key.rpartition("|")
    return method, float(target)
