"""R26: group commit of audit entries. Requests that must have their entry committed before they deliver
hand the write to the process's one audit writer (per database) and wait: the writer appends every entry
waiting (each still its own chained entry, in the order handed over) in one transaction, commits, and
only then wakes each request with its result. A request is never answered before its entry is committed.

One transaction per batch spares each read the write transaction's fixed costs (BEGIN, commit, on SQLite
the wait for the database's single write lock), which the audited row API otherwise pays per call (R19).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from gongshu.kernel.config import get_settings
from gongshu.kernel.db import session_scope

T = TypeVar("T")
IDLE_SECONDS = 5.0  # an idle writer thread ends; the next write starts a new one

_Job = tuple[Callable[[Session], Any], "Future[Any]"]


class AuditWriter:
    """The audit writer of one database in this process: a thread started on demand."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._running = False

    def submit(self, job: Callable[[Session], T]) -> Future[T]:
        """R26: hand `job(session)` to the writer; the future is done once the transaction that ran it is
        committed (its result), or with the job's exception (nothing of that job written). An event loop
        awaits it with `asyncio.wrap_future`, without holding a thread."""
        future: Future[T] = Future()
        with self._cond:
            self._jobs.append((job, future))
            if self._running:
                self._cond.notify()
            else:
                self._running = True
                threading.Thread(target=self._run, name="gongshu-audit-writer", daemon=True).start()
        return future

    def write(self, job: Callable[[Session], T]) -> T:
        """R26: `submit` and wait: the job's result once its transaction is committed."""
        return self.submit(job).result()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._jobs:
                    self._cond.wait(timeout=IDLE_SECONDS)
                if not self._jobs:
                    self._running = False
                    return
                most = max(1, get_settings().audit_batch_max)
                batch = [self._jobs.popleft() for _ in range(min(most, len(self._jobs)))]
            self._write(batch)

    def _write(self, batch: list[_Job]) -> None:
        """One transaction for the whole batch; should it fail, each job again in a transaction of its
        own, so that one failing job costs the others nothing and every job gets its own outcome."""
        results: list[Any] = []
        try:
            with session_scope(self.url) as session:
                for job, _ in batch:
                    results.append(job(session))
                    session.flush()
        except BaseException:
            for job, future in batch:
                try:
                    with session_scope(self.url) as session:
                        result = job(session)
                except BaseException as exc:  # handed to the waiting request, which raises it
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)


_writers: dict[str, AuditWriter] = {}
_writers_lock = threading.Lock()


def audit_writer(url: str | None = None) -> AuditWriter:
    """The audit writer of the database at `url` (default: the platform's database)."""
    url = url or get_settings().resolved_database_url()
    with _writers_lock:
        writer = _writers.get(url)
        if writer is None:
            writer = _writers[url] = AuditWriter(url)
        return writer
