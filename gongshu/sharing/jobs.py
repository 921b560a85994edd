"""R15–R21: the background jobs of sharing (R19: the stream publisher, the database-table syncs and the
file packages)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gongshu.kernel.jobs.registry import job
from gongshu.sharing import jobs_stream as jobs_stream


def _url(session: Session) -> str:
    # The deliveries open their own units of work (SQLite takes the write lock at BEGIN): the job's session
    # is left unused so that it holds no lock meanwhile.
    return session.get_bind().engine.url.render_as_string(hide_password=False)


@job("sharing.db_table_sync", every_seconds=60)
def db_table_sync_job(session: Session) -> None:
    """R19: sync every active database-table target once a minute (each claimed once per slot)."""
    from gongshu.sharing import db_table

    db_table.sync_due(_url(session))


@job("sharing.file_packages", every_seconds=300)
def file_packages_job(session: Session) -> None:
    """R19: regenerate the file-exchange packages that are due."""
    from gongshu.sharing import files

    files.generate_due(_url(session))
