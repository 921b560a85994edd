"""R26: group commit of audit entries. Requests that must have their entry committed before they deliver
hand the write to the process's one audit writer (per database) and wait: the writer appends every entry
waiting (each still its own chained entry, in the order handed over) in one transaction, commits, and
only then wakes each request with its result. A request is never answered before its entry is committed.

One transaction per batch spares each read the write transaction's fixed costs (BEGIN, commit, on SQLite
the wait for the database's single write lock), which the audited row API otherwise pays per call (R19).
A job is either a callable run with the batch's session or an `EntrySpec` (`submit_entry`): the batch's
consecutive specs are appended by one `append_entries` (one read of the chain head, one multi-row INSERT),
sparing each read the ORM's unit of work. A spec may come with the receipt of its delivery
(`submit_receipted`): the receipts of such a run are sealed together with one SM2 signature over the hash
tree of their digests (`kernel.crypto.seal.seal_documents`) and stored with their entries
(`audit_receipt`), in the same transaction.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from gongshu.kernel.audit.models import AuditReceipt
from gongshu.kernel.audit.service import EntrySpec, append_entries
from gongshu.kernel.config import get_settings
from gongshu.kernel.crypto.seal import canonical_json, seal_documents
from gongshu.kernel.db import session_scope, sqlite_write_turn

T = TypeVar("T")
IDLE_SECONDS = 5.0  # an idle writer thread ends; the next write starts a new one

Document = dict[str, Any]


@dataclass(frozen=True)
class Receipted:
    """R19 R26: an entry and the receipt of the delivery it audits: `document_of(seq)` is the receipt's
    document once the entry's seq is known (the receipt names it)."""

    spec: EntrySpec
    document_of: Callable[[int], Document]


_Work = Callable[[Session], Any] | EntrySpec | Receipted
_Job = tuple[_Work, "Future[Any]"]


def _is_spec(job: _Job) -> bool:
    return isinstance(job[0], EntrySpec | Receipted)


def _append(session: Session, works: list[_Work]) -> list[Any]:
    """R19 R26: a run of specs appended with one `append_entries`; the receipts among them sealed with
    one signature and stored under their entries. Results: the seq of a plain spec, (seq, sealed
    receipt) of a receipted one."""
    specs = [w.spec if isinstance(w, Receipted) else w for w in works if isinstance(w, EntrySpec | Receipted)]
    seqs = append_entries(session, specs)
    receipted = [(i, w) for i, w in enumerate(works) if isinstance(w, Receipted)]
    results: list[Any] = list(seqs)
    if receipted:
        sealed = seal_documents([w.document_of(seqs[i]) for i, w in receipted])
        table = AuditReceipt.__table__
        assert isinstance(table, Table)
        session.execute(
            insert(table),
            [
                {"seq": seqs[i], "sealed": canonical_json(doc).decode()}
                for (i, _), doc in zip(receipted, sealed, strict=True)
            ],
        )
        for (i, _), doc in zip(receipted, sealed, strict=True):
            results[i] = (seqs[i], doc)
    return results


def _run_alone(session: Session, work: _Work) -> Any:
    """R26: one job in `session`: a spec appended (its seq; with its sealed receipt), a callable run."""
    if isinstance(work, EntrySpec | Receipted):
        return _append(session, [work])[0]
    return work(session)


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
        self._enqueue(job, future)
        return future

    def submit_entry(self, spec: EntrySpec) -> Future[int]:
        """R26: hand one entry to the writer; the future's result is the entry's seq, once the transaction
        that appended it is committed (or its exception: the entry not written)."""
        future: Future[int] = Future()
        self._enqueue(spec, future)
        return future

    def submit_receipted(
        self, spec: EntrySpec, document_of: Callable[[int], Document]
    ) -> Future[tuple[int, Document]]:
        """R19 R26: hand one entry and its delivery's receipt to the writer; the future's result is the
        entry's seq and the sealed receipt (`document_of(seq)`, sealed with the others of its batch and
        stored under the entry), once the transaction that wrote both is committed."""
        future: Future[tuple[int, Document]] = Future()
        self._enqueue(Receipted(spec, document_of), future)
        return future

    def _enqueue(self, work: _Work, future: Future[Any]) -> None:
        with self._cond:
            self._jobs.append((work, future))
            if self._running:
                self._cond.notify()
            else:
                self._running = True
                threading.Thread(target=self._run, name="gongshu-audit-writer", daemon=True).start()

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
            # A future its waiter cancelled (nothing will be delivered) is dropped; the others can no
            # longer be cancelled, so that each gets its outcome.
            batch = [job for job in batch if job[1].set_running_or_notify_cancel()]
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Job]) -> None:
        """R26: one transaction for the whole batch, in order (each run of consecutive specs appended
        together); should it fail, each job again in a transaction of its own, so that one failing job
        costs the others nothing and every job gets its own outcome. No future is resolved before the
        commit."""
        results: list[Any] = []
        try:
            with sqlite_write_turn(self.url), session_scope(self.url) as session:
                for specs, group in groupby(batch, key=_is_spec):
                    if specs:
                        results.extend(_append(session, [work for work, _ in group]))
                        continue
                    for work, _ in group:
                        results.append(_run_alone(session, work))
                        session.flush()
        except BaseException:
            for work, future in batch:
                try:
                    with sqlite_write_turn(self.url), session_scope(self.url) as session:
                        result = _run_alone(session, work)
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
