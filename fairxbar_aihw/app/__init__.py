"""The application layer: run a study or an audit with the engine (``study/``), then write its
report with ``report/``.

Why a layer of its own: the engine computes and stores, the report renders the stored results,
and neither imports this; the command line calls it.
"""
from ..lazy import lazy_exports

__all__ = ["run_study", "write_study_report", "write_run_report", "run_audit", "write_audit", "replicate_study"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "run_study": ".studies", "write_study_report": ".studies", "write_run_report": ".studies",
    "run_audit": ".audits", "write_audit": ".audits", "studies": ".studies", "audits": ".audits",
    "replicate_study": ".replication", "replication": ".replication"})
