"""R13: the quality domain's background job — every resource's stored data is re-checked daily against
its current rules. R14: the rulings' clocks are swept with the open steps by the SLA sweep
(`workflow.sla_sweep`); importing `quality.rulings` here registers their sweep in every worker."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gongshu.kernel.jobs.registry import job
from gongshu.quality import rulings  # noqa: F401  (registers the rulings' sweep, R14)
from gongshu.quality.recheck import recheck_all

DAILY = 86_400


@job("quality.recheck", every_seconds=DAILY)
def recheck_job(session: Session) -> None:
    """R13: re-check every resource's stored data against its current items and rules (daily)."""
    recheck_all(session)
