"""R26 data tracker: the subjects' index is derived from the chain by a background job; a look-up finds
every entry that returned a subject's records whether the job has reached it yet or not."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit import query
from gongshu.kernel.audit.models import AuditEntry, AuditSubjectIndex, AuditSubjectMark
from gongshu.kernel.audit.service import record, subject_hash
from gongshu.kernel.audit.subjects import entries_of_subject, index_subjects
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.jobs.registry import discover, get

OFFICER = Actor(user_id=7, username="li.wei", org_id=3, via="session")
ZHANG = "11010519491231002X"
LI = "110101199003070011"


def _read(session: Session, *keys: str) -> int:
    entry = record(session, OFFICER, "data.read", object_type="resource", subject_keys=list(keys))
    session.commit()
    return entry.seq


def _found(session: Session, key: str) -> list[int]:
    return sorted(e.seq for e in query.search(session, subject=key)[0])


def _indexed(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditSubjectIndex)) or 0)


def test_r26_a_read_is_found_before_and_after_its_subjects_are_indexed(session: Session) -> None:
    first = _read(session, ZHANG, LI)
    record(session, OFFICER, "catalog.update", object_type="entry")  # no subjects
    session.commit()
    second = _read(session, ZHANG)
    assert _indexed(session) == 0  # nothing indexed on the read's path
    assert _found(session, ZHANG) == [first, second] and _found(session, LI) == [first]

    assert index_subjects(session) == 3
    session.commit()
    assert _indexed(session) == 3
    assert _found(session, ZHANG) == [first, second] and _found(session, LI) == [first]

    third = _read(session, LI)  # after the high-water mark: found by the entry's own hashes
    assert _found(session, LI) == [first, third] and _found(session, ZHANG) == [first, second]
    assert index_subjects(session) == 1 and index_subjects(session) == 0  # idempotent
    session.commit()
    assert _found(session, LI) == [first, third] and _indexed(session) == 4


def test_r26_the_index_job_moves_past_entries_without_subjects(session: Session) -> None:
    """The job reads only entries with subjects after the mark: a long run of other entries cannot hold
    it back, and a run with a small limit resumes where it stopped."""
    for _ in range(5):
        record(session, OFFICER, "catalog.update", object_type="entry")
    reads = [_read(session, ZHANG if n % 2 else LI) for n in range(4)]
    assert index_subjects(session, limit=3) == 3
    session.commit()
    assert index_subjects(session, limit=3) == 1
    session.commit()
    rows = session.execute(select(AuditSubjectIndex.audit_seq).order_by(AuditSubjectIndex.audit_seq))
    assert [r[0] for r in rows] == reads


def test_r26_the_look_up_matches_a_whole_hash_only(session: Session) -> None:
    seq = _read(session, ZHANG)
    digest = subject_hash(ZHANG)
    hits = lambda d: session.scalars(select(AuditEntry.seq).where(entries_of_subject(d))).all()  # noqa: E731
    assert hits(digest) == [seq]
    assert hits(digest[:-1]) == [] and hits(digest[1:]) == []


def test_r26_the_index_job_is_registered() -> None:
    discover()
    spec = get("audit.index_subjects")
    assert spec is not None and spec.every_seconds <= 60


def test_r26_migration_rebuilds_the_index_from_the_chain(fresh_db: str) -> None:
    """Migration 9d4e7a1b2c3f makes the index one (hash, entry) B-tree with its mark apart: the old rows
    go (derived data), the mark starts at 0, look-ups stay complete, and the job indexes again."""
    from sqlalchemy import inspect, text

    from gongshu.kernel import db, migrate
    from gongshu.kernel.db import session_scope

    migrate.upgrade(fresh_db, "8b6c3181a919")
    with db.get_engine(fresh_db).begin() as conn:
        conn.execute(text("INSERT INTO audit_subject (subject_hash, audit_seq) VALUES ('ab', 1)"))
    migrate.upgrade(fresh_db)
    assert {c["name"] for c in inspect(db.get_engine(fresh_db)).get_columns("audit_subject")} == {
        "subject_hash",
        "audit_seq",
    }
    with session_scope(fresh_db) as s:
        assert _indexed(s) == 0 and s.get(AuditSubjectMark, 1).seq == 0  # type: ignore[union-attr]
        seq = _read(s, ZHANG)
        assert s.scalars(select(AuditEntry.seq).where(entries_of_subject(subject_hash(ZHANG)))).all() == [seq]
        assert index_subjects(s) == 1
    with session_scope(fresh_db) as s:
        assert s.get(AuditSubjectMark, 1).seq == seq  # type: ignore[union-attr]
        assert s.scalars(select(AuditEntry.seq).where(entries_of_subject(subject_hash(ZHANG)))).all() == [seq]
