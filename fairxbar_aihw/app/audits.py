"""An audit's report: the auditor's README with its prediction files, and the study report of
every cell in ``study/``."""
from __future__ import annotations

from pathlib import Path

from ..report.audit import write_audit_report
from ..study.audit import Audit
from .studies import write_run_report


def write_audit(audit: Audit) -> Path:
    """Write the audit's reports from what its stages stored (``compute_all`` first) and its chips'
    predictions (computed here: they are not stored)."""
    run = audit.only
    out = audit.report_dir(claim=True)
    write_run_report(run, out / "study")
    return write_audit_report(run.store, run.run_id, run.cfg, run.expected_cells(), audit.predictions(), out)


def run_audit(audit: Audit) -> Path:
    """Every audit stage not done yet, then its reports."""
    audit.compute_all()
    return write_audit(audit)
