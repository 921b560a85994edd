"""R7: the store's background job — batches whose process died are marked failed, and published entries
without a table get one."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gongshu.kernel.jobs.registry import job
from gongshu.store import batches, service


@job("store.recover_stale_batches", every_seconds=600)
def recover_stale_batches_job(session: Session) -> None:
    """R7: mark failed the batches left 'loading' by a process that ended; provision missing tables."""
    batches.recover_stale_batches(session)
    service.provision_missing(session)
