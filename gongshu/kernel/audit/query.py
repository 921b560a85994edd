"""Searching and exporting the audit log (R26–R28: supervision of who accessed what, when, under which grant
and scenario; R26 data tracker: which organisations read a person's or a company's records).

Filters (all optional, combined with AND), shared by `search`, `export_csv` and `export_jsonl`:
- `actor`: the actor's user name (exact); `actor_user_id`; `org_id`: the acting organisation;
- `action_prefix`: e.g. "sharing." matches every sharing action (wildcards are taken literally);
- `object_type`, `object_id`, `outcome` ("ok", "denied", "error"), `grant_id`;
- `subject`: a resident ID number or USCC — entries whose reads returned that subject's records;
- `since` (inclusive) and `until` (exclusive): aware datetimes; a naive datetime is China time; a date
  means that whole day in China (so `until=date` includes that day).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import IO, Any, TypedDict, Unpack

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import subject_hash
from gongshu.kernel.audit.subjects import entries_of_subject
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identifiers.checks import check_identifier
from gongshu.kernel.timeutil import CHINA

MAX_PAGE = 1000  # a page size limit of the platform, not a statutory number
OUTCOMES = frozenset({"ok", "denied", "error"})
COLUMNS = (
    "seq", "at", "actor_user_id", "actor_label", "actor_org_id", "action", "object_type", "object_id",
    "grant_id", "scenario", "outcome", "detail", "subject_keys", "prev_hash", "entry_hash",
)  # fmt: skip
_TABLE = AuditEntry.__table__


class AuditFilters(TypedDict, total=False):
    actor: str | None
    actor_user_id: int | None
    org_id: int | None
    action_prefix: str | None
    object_type: str | None
    object_id: str | None
    outcome: str | None
    grant_id: int | None
    subject: str | None
    since: dt.datetime | dt.date | None
    until: dt.datetime | dt.date | None


def _instant(value: dt.datetime | dt.date, *, end: bool) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=CHINA) if value.tzinfo is None else value
    day = value + dt.timedelta(days=1) if end else value
    return dt.datetime.combine(day, dt.time(), tzinfo=CHINA)


def _invalid(code: str, zh: str, en: str, field: str) -> ValidationFailed:
    return ValidationFailed(code, zh, en, field=field)


def _conditions(filters: AuditFilters) -> list[ColumnElement[bool]]:
    """Validate the filters and turn them into SQL conditions (nothing runs before all are valid)."""
    unknown = set(filters) - set(AuditFilters.__annotations__)
    if unknown:
        raise _invalid(
            "audit.filter", "未知的筛选条件", f"Unknown filter: {', '.join(sorted(unknown))}", "filter"
        )
    f: dict[str, Any] = {k: v for k, v in filters.items() if v is not None and v != ""}
    e = AuditEntry
    out: list[ColumnElement[bool]] = []
    if "outcome" in f:
        if f["outcome"] not in OUTCOMES:
            raise _invalid(
                "audit.outcome", "结果应为 ok、denied 或 error", "Outcome is ok, denied or error", "outcome"
            )
        out.append(e.outcome == f["outcome"])
    since = _instant(f["since"], end=False) if "since" in f else None
    until = _instant(f["until"], end=True) if "until" in f else None
    if since is not None and until is not None and since >= until:
        raise _invalid("audit.period", "起始时间应早于截止时间", "The start must be before the end", "since")
    if since is not None:
        out.append(e.at >= since)
    if until is not None:
        out.append(e.at < until)
    for key, column in (("actor", e.actor_label), ("object_type", e.object_type), ("object_id", e.object_id)):
        if key in f:
            out.append(column == str(f[key]))
    for key, icolumn in (
        ("actor_user_id", e.actor_user_id),
        ("org_id", e.actor_org_id),
        ("grant_id", e.grant_id),
    ):
        if key in f:
            out.append(icolumn == int(f[key]))
    if "action_prefix" in f:
        out.append(e.action.startswith(str(f["action_prefix"]), autoescape=True))
    if "subject" in f:
        checked = check_identifier(str(f["subject"]))
        digest = subject_hash(checked.normalized or str(f["subject"]))
        out.append(entries_of_subject(digest))
    return out


def validate_filters(filters: AuditFilters) -> None:
    """Raise `ValidationFailed` for invalid filters (for callers that must check before opening a file)."""
    _conditions(filters)


def search(
    session: Session, *, limit: int = 100, offset: int = 0, **filters: Unpack[AuditFilters]
) -> tuple[list[AuditEntry], int]:
    """A page of audit entries matching the filters, newest first, and the number of all matches."""
    if not 1 <= limit <= MAX_PAGE:
        raise _invalid(
            "audit.limit", f"每页条数应为1至{MAX_PAGE}", f"A page holds 1 to {MAX_PAGE} entries", "limit"
        )
    if offset < 0:
        raise _invalid("audit.offset", "偏移量不能为负数", "The offset cannot be negative", "offset")
    where = _conditions(filters)
    total = int(session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0)
    page = select(AuditEntry).where(*where).order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)
    return list(session.scalars(page)), total


def entry_dict(entry: Any) -> dict[str, Any]:
    """An entry (ORM object or row) as plain JSON-ready data, in the export's column order."""
    out = {name: getattr(entry, name) for name in COLUMNS}
    out["at"] = entry.at.isoformat()
    return out


def _stream(session: Session, filters: AuditFilters, chunk: int) -> Iterator[dict[str, Any]]:
    query: Select[Any] = select(_TABLE).where(*_conditions(filters)).order_by(_TABLE.c.seq)
    for row in session.execute(query, execution_options={"yield_per": chunk}):
        yield entry_dict(row)


def export_jsonl(
    session: Session, out: IO[str], *, chunk: int = 5000, **filters: Unpack[AuditFilters]
) -> int:
    """Write the matching entries, oldest first, one JSON object a line; returns how many. An unfiltered
    export keeps the hashes and can be verified away from the platform (`verify.verify_jsonl`)."""
    count = 0
    for record in _stream(session, filters, chunk):
        out.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
        count += 1
    return count


def export_csv(session: Session, out: IO[str], *, chunk: int = 5000, **filters: Unpack[AuditFilters]) -> int:
    """Write the matching entries, oldest first, as CSV with a header (detail and subject keys as JSON)."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for record in _stream(session, filters, chunk):
        record["detail"] = json.dumps(record["detail"], ensure_ascii=False, sort_keys=True)
        record["subject_keys"] = json.dumps(record["subject_keys"])
        writer.writerow(["" if record[c] is None else record[c] for c in COLUMNS])
        count += 1
    return count
