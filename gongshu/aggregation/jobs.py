"""R7 R9: aggregation's background jobs — the scheduled pulls that are due, and the hourly freshness
alarm."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gongshu.aggregation import freshness, pull
from gongshu.kernel.jobs.registry import job


@job("aggregation.run_due_pulls", every_seconds=60)
def run_due_pulls_job(session: Session) -> None:
    """R7: run the pulls whose next run is due (each claimed once; the runner runs this once a slot)."""
    bind = session.get_bind()
    # The pulls open their own units of work (an ingestion takes the write lock on SQLite): the job's
    # session is left unused so that it holds no lock meanwhile.
    pull.run_due_pulls(bind.engine.url.render_as_string(hide_password=False))


@job("aggregation.freshness_alarm", every_seconds=3600)
def freshness_alarm_job(session: Session) -> None:
    """R9: alarm newly interrupted resources once, to their providers and to the authority."""
    freshness.alarm_interrupted(session)
