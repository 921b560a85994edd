"""R13: the quality domain's background job — every resource's stored data is re-checked daily against
its current rules."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gongshu.kernel.jobs.registry import job
from gongshu.quality.recheck import recheck_all

DAILY = 86_400


@job("quality.recheck", every_seconds=DAILY)
def recheck_job(session: Session) -> None:
    """R13: re-check every resource's stored data against its current items and rules (daily)."""
    recheck_all(session)
