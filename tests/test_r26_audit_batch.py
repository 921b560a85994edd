"""R26: the audit writer appends the row API's read entries in batches (`submit_entry`: one read of the
chain head, one multi-row INSERT per batch) — each entry still its own, chained, committed before its
future is done, equal to what `audit_read` records, verifiable by `gongshu audit verify`."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.kernel import timeutil
from gongshu.kernel.access.service import DataDecision
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import (
    EntrySpec,
    _chain_head,
    _chained_rows,
    append_entries,
    entry_spec,
    record,
    subject_hashes,
)
from gongshu.kernel.audit.verify import verify_chain
from gongshu.kernel.audit.writer import audit_writer
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.sharing.reads import audit_read, read_entry_spec, subject_keys_of

CLERK = Actor(user_id=41, username="wang.fang", org_id=5, via="token")
DECISION = DataDecision(
    allowed=True,
    reason="",
    items=("id_number", "name"),
    grant_id=17,
    scenario="婚育服务一件事",
    basis="grant",
)
ROWS = [
    {"id_number": "11010519491231002X", "name": "张三"},
    {"id_number": "110101198506010300", "name": "李四"},
]


@pytest.fixture()
def url(db_clean: str) -> Iterator[str]:
    yield db_clean


def _spec(n: int) -> EntrySpec:
    return read_entry_spec(
        CLERK, f"R{n:04d}", DECISION, n % 7, method="api", path="/api/v1/data/x/rows", hashed_subjects=[]
    )


def _hold(url: str) -> tuple[threading.Event, Future[Any]]:
    """A job that holds the writer until released, so that the jobs handed over meanwhile form one batch."""
    release, started = threading.Event(), threading.Event()

    def slow(s: Session) -> int:
        started.set()
        release.wait(10)
        return record(s, CLERK, "test.hold", object_id="hold").seq

    future = audit_writer(url).submit(slow)
    assert started.wait(10)
    return release, future


def _entries(seqs: list[int]) -> list[Any]:
    """The entries `seqs`, in seq order, as rows of every field."""
    with read_scope() as s:
        table = AuditEntry.__table__
        return list(s.execute(select(table).where(table.c.seq.in_(seqs)).order_by(table.c.seq)))


def test_r26_entries_submitted_from_threads_are_consecutive_and_verify(url: str) -> None:
    release, held = _hold(url)
    futures: list[Future[int]] = []
    lock = threading.Lock()

    def submit(t: int) -> None:
        for i in range(10):
            future = audit_writer(url).submit_entry(_spec(t * 10 + i))
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=submit, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not any(f.done() for f in futures)  # nothing resolved before its commit
    release.set()
    first = held.result(10)
    seqs = [f.result(10) for f in futures]
    assert sorted(seqs) == list(range(first + 1, first + 61))  # consecutive, after the held job
    assert seqs == sorted(seqs)  # in the order handed over
    with read_scope() as s:
        assert verify_chain(s).ok
        for f in futures:  # committed once the future is done
            assert s.get(AuditEntry, f.result()) is not None


def test_r26_a_submitted_entry_equals_what_audit_read_records(url: str) -> None:
    timeutil.freeze(dt.datetime(2025, 3, 4, 9, 30, 15, 123456))
    keys = subject_keys_of(ROWS, ["id_number"])
    hashed = subject_hashes(keys)
    detail = {"request_sm3": "ab" * 32, "filters": [["name", "eq"]], "when": dt.date(2025, 3, 4)}
    spec = read_entry_spec(
        CLERK, "R0001", DECISION, len(ROWS), method="api", path="/p", detail=detail, hashed_subjects=hashed
    )
    seq = audit_writer(url).submit_entry(spec).result(10)
    with session_scope(url) as s:  # both ways: keys hashed by `audit_read`, and hashed before
        by_keys = audit_read(
            s, CLERK, "R0001", DECISION, ROWS, method="api", path="/p", detail=detail, key_items=["id_number"]
        ).seq
        by_hashes = audit_read(
            s, CLERK, "R0001", DECISION, ROWS, method="api", path="/p", detail=detail, hashed_subjects=hashed
        ).seq
    fields = [
        c.name for c in AuditEntry.__table__.columns if c.name not in ("seq", "prev_hash", "entry_hash")
    ]
    written, *recorded = _entries([seq, by_keys, by_hashes])
    for other in recorded:
        assert {f: getattr(written, f) for f in fields} == {f: getattr(other, f) for f in fields}
    assert written.action == "data.read" and written.object_type == "resource"
    assert written.detail == {
        "method": "api",
        "path": "/p",
        "basis": "grant",
        "records": 2,
        "items": ["id_number", "name"],
        "request_sm3": "ab" * 32,
        "filters": [["name", "eq"]],
        "when": "2025-03-04",
    }
    assert written.subject_keys == sorted(hashed) and len(hashed) == 2
    assert written.at == timeutil.now()
    with read_scope() as s:
        assert verify_chain(s).ok


def test_r26_a_failing_job_in_a_batch_costs_the_others_nothing(url: str) -> None:
    def failing(s: Session) -> int:
        record(s, CLERK, "data.read", object_id="failing")
        raise RuntimeError("boom")

    def good(s: Session) -> int:
        return record(s, CLERK, "data.read", object_id="good").seq

    writer = audit_writer(url)
    release, held = _hold(url)
    before = writer.submit_entry(_spec(1))
    bad = writer.submit(failing)
    after = writer.submit_entry(_spec(2))
    plain = writer.submit(good)
    release.set()
    with pytest.raises(RuntimeError, match="boom"):
        bad.result(10)
    seqs = [held.result(10), before.result(10), after.result(10), plain.result(10)]
    assert seqs == sorted(seqs)
    assert [e.object_id for e in _entries(seqs)] == ["hold", "R0001", "R0002", "good"]
    with read_scope() as s:
        assert "failing" not in set(s.scalars(select(AuditEntry.object_id)))
        assert verify_chain(s).ok


def test_r26_plain_jobs_and_entries_keep_their_order(url: str) -> None:
    writer = audit_writer(url)

    def plain(name: str) -> Any:
        return lambda s: record(s, CLERK, "test.plain", object_id=name).seq

    release, held = _hold(url)
    order = ["a", 1, 2, "b", 3, "c", "d", 4, 5, 6]
    futures: list[Future[int]] = [
        writer.submit(plain(x)) if isinstance(x, str) else writer.submit_entry(_spec(x)) for x in order
    ]
    release.set()
    seqs = [held.result(10), *(f.result(10) for f in futures)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    names = [x if isinstance(x, str) else f"R{x:04d}" for x in order]
    assert [e.object_id for e in _entries(seqs)] == ["hold", *names]
    with read_scope() as s:
        assert verify_chain(s).ok


def test_r26_append_entries_chains_after_entries_of_the_same_transaction(url: str) -> None:
    with session_scope(url) as s:
        first = record(s, CLERK, "test.first", object_id="first").seq
        pending = AuditEntry(**_chained_rows([_spec(0)], *_chain_head(s))[0])
        s.add(pending)  # not flushed: `append_entries` writes it before it reads the chain head
        seqs = append_entries(s, [_spec(1), entry_spec(None, "test.system", detail={"n": 1})])
        last = record(s, None, "test.last").seq
    assert pending.seq == first + 1 and seqs == [first + 2, first + 3] and last == first + 4
    with read_scope() as s:
        assert verify_chain(s).ok
        assert s.get(AuditEntry, seqs[1]).actor_label == "system"  # type: ignore[union-attr]


def test_r26_sqlite_writers_take_turns_behind_the_write_lock(tmp_path: Path) -> None:
    """Audit writers of several processes on one SQLite file queue on `<db>.write-lock` (a blocked flock
    wakes when it is released) instead of SQLite's sleeping busy handler; the turn is per open file, so
    threads of one process queue too, and other databases take no lock."""
    import time

    from gongshu.kernel.db import sqlite_write_turn

    url = f"sqlite:///{tmp_path / 'turns.db'}"
    order: list[str] = []
    holding = threading.Event()

    def first() -> None:
        with sqlite_write_turn(url):
            holding.set()
            time.sleep(0.3)
            order.append("first done")

    def second() -> None:
        holding.wait(5)
        with sqlite_write_turn(url):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["first done", "second in"]
    assert (tmp_path / "turns.db.write-lock").exists()
    with sqlite_write_turn("postgresql://nowhere/db"), sqlite_write_turn("sqlite:///:memory:"):
        pass  # no lock file, nothing to wait for


def test_r26_keyed_sm3_gives_the_hmac_digests() -> None:
    """The subjects' hashes from the key's precomputed pads equal HMAC-SM3 for short, block-long and long
    keys, and `subject_hashes` equals `subject_hash` key by key."""
    from gongshu.kernel.audit.service import subject_hash, subject_hashes
    from gongshu.kernel.crypto.sm import KeyedSM3, hmac_sm3_hex

    for key in (b"k", b"x" * 64, b"long key " * 20):
        keyed = KeyedSM3(key)
        for message in (b"", b"11010519491231002X", "统一社会信用代码".encode() * 9):
            assert keyed.hex(message) == hmac_sm3_hex(key, message)
    keys = ["11010519491231002x ", "91350200MA2XXXXX0X", "11010519491231002X"]
    assert subject_hashes(keys) == sorted({subject_hash(k) for k in keys})
    assert len(subject_hashes(keys)) == 2  # case and spaces do not make another subject


def test_r26_an_unknown_entry_field_is_refused() -> None:
    """A misspelt field of an audit entry is an error, not a field silently left out of the record."""
    from gongshu.kernel.audit.service import entry_spec

    with pytest.raises(TypeError, match="objet_id"):
        entry_spec(None, "data.read", objet_id="x")  # type: ignore[call-arg]
    assert entry_spec(None, "data.read", object_id=7).object_id == "7"
