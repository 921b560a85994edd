"""R26 data tracker: which audit entries returned records of a subject (by the keyed hash of its ID number
or USCC).

The chain is the record: every read's entry carries the sorted keyed hashes of the subjects it returned
(`AuditEntry.subject_keys`), covered by its SM3 chain hash and committed before anything is delivered.
The `audit_subject` table (keyed by hash and entry, its high-water mark in `audit_subject_mark`) is an
index derived from those entries, built in bulk by a background job
(`audit.index_subjects`) — not on the read's path, where one row per record at a random place of the
index cost more than the read itself. A look-up is always complete: entries up to the index's high-water
mark are found through the index, the entries after it (the few the job has not reached yet) by their own
`subject_keys`, both in one statement and so from one snapshot."""

from __future__ import annotations

from sqlalchemy import Text, and_, cast, func, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from gongshu.kernel.audit.models import AuditEntry, AuditSubjectIndex, AuditSubjectMark
from gongshu.kernel.jobs.registry import job

INDEX_EVERY_SECONDS = 10
INDEX_ENTRIES_PER_RUN = 20_000
MARK_ID = 1  # the one row of `audit_subject_mark`
_NO_SUBJECTS = ("[]", "null")


def _high_water() -> ColumnElement[int]:
    """The index's high-water mark (0 for none): every entry with subjects up to it is indexed."""
    return func.coalesce(
        select(AuditSubjectMark.seq).where(AuditSubjectMark.id == MARK_ID).scalar_subquery(), 0
    )


def _has_subjects() -> ColumnElement[bool]:
    keys = cast(AuditEntry.subject_keys, Text)
    return and_(AuditEntry.subject_keys.is_not(None), keys.not_in(_NO_SUBJECTS))


def entries_of_subject(digest: str) -> ColumnElement[bool]:
    """R26: the condition on `AuditEntry` of the entries that returned records of the subject `digest`
    (a lowercase hex keyed hash): through the index up to its high-water mark, by the entries' own hashes
    after it. The hashes are hex, so the quoted match in the JSON text is exact."""
    mark = _high_water()
    indexed = select(AuditSubjectIndex.audit_seq).where(
        AuditSubjectIndex.subject_hash == digest, AuditSubjectIndex.audit_seq <= mark
    )
    recent = and_(AuditEntry.seq > mark, cast(AuditEntry.subject_keys, Text).like(f'%"{digest}"%'))
    return or_(AuditEntry.seq.in_(indexed), recent)


def index_subjects(session: Session, limit: int = INDEX_ENTRIES_PER_RUN) -> int:
    """R26: index the subjects of up to `limit` entries after the high-water mark, in seq order (entries
    commit in seq order: the chain's lock is held to the commit), their rows sorted by hash so that the
    index is written page by page. One INSERT … SELECT: the database unnests the entries' JSON arrays of
    hashes itself (SQLite `json_each`, PostgreSQL `json_array_elements_text`), no row passes through
    Python. Returns the rows written."""
    mark = session.scalar(select(_high_water())) or 0
    batch = (
        select(AuditEntry.seq)
        .where(AuditEntry.seq > mark, _has_subjects())
        .order_by(AuditEntry.seq)
        .limit(limit)
        .subquery()
    )
    upto = session.scalar(select(func.max(batch.c.seq)))
    if upto is None:
        return 0
    unnest = (
        "json_array_elements_text(e.subject_keys) AS j(value)"
        if session.get_bind().dialect.name == "postgresql"
        else "json_each(e.subject_keys) AS j"
    )
    written = session.execute(
        text(
            "INSERT INTO audit_subject (subject_hash, audit_seq) "
            f"SELECT j.value, e.seq FROM audit_entry e, {unnest} "
            "WHERE e.seq > :mark AND e.seq <= :upto AND j.value IS NOT NULL ORDER BY j.value, e.seq"
        ),
        {"mark": mark, "upto": upto},
    )
    moved = session.execute(update(AuditSubjectMark).where(AuditSubjectMark.id == MARK_ID).values(seq=upto))
    if not getattr(moved, "rowcount", 0):
        session.add(AuditSubjectMark(id=MARK_ID, seq=upto))
        session.flush()
    return int(getattr(written, "rowcount", 0) or 0)


@job("audit.index_subjects", every_seconds=INDEX_EVERY_SECONDS)
def index_subjects_job(session: Session) -> None:
    """Index the subjects of the audit entries written since the last run (R26)."""
    index_subjects(session)
