"""An audit's report: the auditor's README with its prediction files, and the study report of
every cell in ``study/``."""
from __future__ import annotations

from pathlib import Path

from ..models.user import digital_only_layers
from ..report.audit import write_audit_report
from ..study.audit import Audit
from .studies import write_run_report


def write_audit(audit: Audit) -> Path:
    """Write the audit's reports from what its stages stored (and its chips' predictions)."""
    run = audit.only
    out = audit.report_dir(claim=True)
    write_run_report(run, out / "study")
    return write_audit_report(run, audit.predictions(), digital_only_layers(run.baseline[0]), out)


def run_audit(audit: Audit) -> Path:
    """Every audit stage not done yet, then its reports."""
    audit.compute_all()
    return write_audit(audit)
