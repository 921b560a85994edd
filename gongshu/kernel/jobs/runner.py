"""Running the background jobs: each job's current slot runs on exactly one worker.

Time is cut into slots of each job's period; a worker claims the current slot by inserting a `JobRun`
row (job name, slot). The unique constraint on (job_name, slot) lets exactly one insert succeed, on
SQLite and PostgreSQL alike, however many workers (threads of the embedded scheduler, `gongshu worker`
processes on several machines) race for it. The job then runs in its own transaction and its outcome is
recorded on the row. A failed run is recorded with its error; the next slot runs again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import traceback
from collections.abc import Collection

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gongshu.kernel.db import session_factory
from gongshu.kernel.jobs.models import JobRun
from gongshu.kernel.jobs.registry import JobSpec, discover, registered
from gongshu.kernel.timeutil import now

log = logging.getLogger("gongshu.jobs")
ERROR_TEXT_MAX = 4000
DEFAULT_INTERVAL_SECONDS = 5.0

SessionSource = str | sessionmaker[Session] | None


def default_worker_id(suffix: str = "worker") -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{suffix}"


def slot_of(at: dt.datetime, every_seconds: int) -> dt.datetime:
    """The slot an instant falls in: floor(at / every) * every, as a UTC instant."""
    stamp = int(at.timestamp()) // every_seconds * every_seconds
    return dt.datetime.fromtimestamp(stamp, dt.UTC)


def _factory(source: SessionSource) -> sessionmaker[Session]:
    if isinstance(source, sessionmaker):
        return source
    return session_factory(source)


def _taken(session: Session, job_name: str, slot: dt.datetime) -> bool:
    """Is the slot already claimed? Read without a write lock (SQLite begins read-only work deferred)."""
    bind = session.get_bind()
    query = select(JobRun.id).where(JobRun.job_name == job_name, JobRun.slot == slot)
    if not isinstance(bind, Engine):
        return bind.scalar(query) is not None
    with bind.execution_options(gongshu_readonly=True).connect() as conn:
        found = conn.scalar(query)
        conn.rollback()
    return found is not None


def _claim(factory: sessionmaker[Session], spec: JobSpec, slot: dt.datetime, worker_id: str) -> int | None:
    """Insert the run row of this slot; None when another worker already holds it. A cheap read first
    spares the database a refused insert on every tick; the unique constraint settles real races."""
    session = factory()
    try:
        if _taken(session, spec.name, slot):
            return None
        row = JobRun(
            job_name=spec.name, slot=slot, worker=worker_id[:120], started_at=now(), status="running"
        )
        session.add(row)
        session.commit()
        return row.id
    except IntegrityError:
        session.rollback()
        return None
    finally:
        session.close()


def _finish(factory: sessionmaker[Session], run_id: int, status: str, error: str | None) -> None:
    session = factory()
    try:
        row = session.get(JobRun, run_id)
        if row is not None:
            row.status, row.error, row.finished_at = status, error, now()
        session.commit()
    finally:
        session.close()


def _execute(factory: sessionmaker[Session], spec: JobSpec) -> tuple[str, str | None]:
    session = factory()
    try:
        spec.fn(session)
        session.commit()
        return "ok", None
    except Exception:  # a job's failure is recorded on its run, never kills the worker
        session.rollback()
        text = traceback.format_exc()
        log.exception("job %s failed", spec.name)
        return "error", text[-ERROR_TEXT_MAX:]
    finally:
        session.close()


def run_due_jobs(
    source: SessionSource = None,
    worker_id: str | None = None,
    at: dt.datetime | None = None,
    *,
    only: Collection[str] | None = None,
) -> list[str]:
    """Run every job whose current slot nobody has claimed yet; returns the names of the jobs this worker
    ran. `source` is a database URL or a session factory (default: the configured database); `only`
    restricts the run to some jobs."""
    discover()
    factory = _factory(source)
    worker = worker_id or default_worker_id()
    at = at or now()
    ran: list[str] = []
    for spec in registered():
        if only is not None and spec.name not in only:
            continue
        run_id = _claim(factory, spec, slot_of(at, spec.every_seconds), worker)
        if run_id is None:
            continue
        status, error = _execute(factory, spec)
        _finish(factory, run_id, status, error)
        ran.append(spec.name)
    return ran


def worker_loop(
    worker_id: str,
    stop_event: threading.Event,
    *,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    source: SessionSource = None,
) -> None:
    """Run due jobs every `interval` seconds until `stop_event` is set."""
    while not stop_event.is_set():
        try:
            ran = run_due_jobs(source, worker_id)
            if ran:
                log.info("worker %s ran %s", worker_id, ", ".join(ran))
        except Exception:  # the database may be briefly unavailable: try again at the next tick
            log.exception("worker %s: running due jobs failed", worker_id)
        stop_event.wait(interval)


class EmbeddedScheduler:
    """The job loop inside the web server (settings.background == "embedded"): a daemon thread."""

    def __init__(self, interval: float = DEFAULT_INTERVAL_SECONDS, source: SessionSource = None) -> None:
        self.interval = interval
        self.source = source
        self.worker_id = default_worker_id("embedded")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=worker_loop,
            args=(self.worker_id, self._stop),
            kwargs={"interval": self.interval, "source": self.source},
            name="gongshu-scheduler",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def recent_runs(session: Session, job_name: str | None = None, limit: int = 50) -> list[JobRun]:
    """The latest runs, newest first (for the operator's pages and the CLI)."""
    query = select(JobRun)
    if job_name is not None:
        query = query.where(JobRun.job_name == job_name)
    return list(session.scalars(query.order_by(JobRun.slot.desc(), JobRun.id.desc()).limit(limit)))
