"""R13 during and after the load (事中、事后): stored data is re-checked against the CURRENT rules — the
resource's published items and its declared quality rules — so that a rule added or tightened after a
load finds the records it now refuses. Every problem is kept per record key with the batch and source row
of the record's lineage columns, so that it can be traced back to the file it came from."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, delete, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from gongshu.kernel.audit.service import record
from gongshu.kernel.db import Base
from gongshu.kernel.timeutil import now
from gongshu.quality.checks import check_column, message
from gongshu.quality.rules import specs_of
from gongshu.store import service as store

RECHECK_CHUNK = 50_000  # records read and checked at a time (keyset pages over the key)
PROBLEM_CAP = 50_000  # problems kept per resource and re-check; all are counted


class QualityCheck(Base):
    """R13: the outcome of one re-check of a resource: how many records, how many with a problem."""

    __tablename__ = "quality_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(80), index=True)
    records: Mapped[int] = mapped_column(default=0)
    problem_records: Mapped[int] = mapped_column(default=0)
    problems: Mapped[int] = mapped_column(default=0)
    checked_at: Mapped[dt.datetime] = mapped_column(default=now)


class QualityProblem(Base):
    """R13: one cell of a stored record that breaks a current rule, traceable to its batch and source row."""

    __tablename__ = "quality_problem"
    __table_args__ = (Index("ix_quality_problem_resource_key", "resource_code", "record_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("quality_check.id", ondelete="CASCADE"), index=True)
    resource_code: Mapped[str] = mapped_column(String(80))
    record_key: Mapped[str] = mapped_column(String(200))
    column: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(40))
    value: Mapped[str | None] = mapped_column(Text, default=None)
    message_zh: Mapped[str] = mapped_column(Text, default="")
    message_en: Mapped[str] = mapped_column(Text, default="")
    batch_id: Mapped[int | None] = mapped_column(default=None)
    source_row: Mapped[int | None] = mapped_column(BigInteger, default=None)


@dataclass
class RecheckReport:
    """R13: what a re-check found."""

    resource_code: str
    check_id: int
    records: int = 0
    problem_records: int = 0
    problems: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


def as_text(value: Any) -> str | None:
    """A stored value in the canonical text the checks read (as a file would carry it)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def recheck(session: Session, code: str) -> RecheckReport:
    """R13: re-check every stored record of a resource against its current items and rules, vectorised
    per chunk of RECHECK_CHUNK records; replace the resource's problems with what is found (in the
    caller's transaction), audited."""
    res = store.get_resource(session, code)
    table = store.table_of(res)
    items = list(res.items)
    names = [str(i["name"]) for i in items]
    rules = [r for r in specs_of(session, code) if r.kind != "complete"]
    params = {(r.item, r.kind): r.params for r in rules}
    key_col = table.c[res.key_item]
    cols = [table.c[n] for n in names]
    if res.key_item not in names:
        cols.append(key_col)
    cols += [table.c["_batch_id"], table.c["_source_row"]]
    session.execute(delete(QualityProblem).where(QualityProblem.resource_code == code))
    check = QualityCheck(resource_code=code, checked_at=now())
    session.add(check)
    session.flush()
    report = RecheckReport(resource_code=code, check_id=check.id)
    last: Any = None
    while True:
        stmt = select(*cols).order_by(key_col).limit(RECHECK_CHUNK)
        if last is not None:
            stmt = stmt.where(key_col > last)
        rows = list(session.execute(stmt).all())
        if not rows:
            break
        last = rows[-1]._mapping[res.key_item]
        _check_chunk(session, report, res.key_item, items, rules, params, rows)
        if len(rows) < RECHECK_CHUNK:
            break
    check.records, check.problem_records = report.records, report.problem_records
    check.problems = report.problems
    record(
        session,
        None,
        "quality.recheck",
        object_type="resource",
        object_id=code,
        detail={
            "records": report.records,
            "problem_records": report.problem_records,
            "problems": report.problems,
            "by_rule": report.by_rule,
        },
    )
    return report


def _check_chunk(
    session: Session,
    report: RecheckReport,
    key: str,
    items: list[dict[str, Any]],
    rules: list[Any],
    params: dict[tuple[str, str], dict[str, Any]],
    rows: list[Any],
) -> None:
    """Check one chunk column-wise; store its problems (up to PROBLEM_CAP per re-check)."""
    n = len(rows)
    columns = list(zip(*rows, strict=True))
    bad = np.zeros(n, dtype=bool)
    found: list[tuple[str, dict[str, Any], np.ndarray[Any, Any], list[str | None]]] = []
    for pos, item in enumerate(items):
        name = str(item["name"])
        texts = [as_text(v) for v in columns[pos]]
        result = check_column(
            item, pa.array(texts, pa.string()), [r for r in rules if r.item == name], required=name == key
        )
        failed = result.errors != None  # noqa: E711 — element-wise comparison of an object array
        if failed.any():
            bad |= failed
            found.append((name, item, result.errors, texts))
    report.records += n
    report.problem_records += int(bad.sum())
    keys = [as_text(r._mapping[key]) or "" for r in rows]
    out: list[dict[str, Any]] = []
    for name, item, errors, texts in found:
        for i in np.flatnonzero(errors != None):  # noqa: E711
            code = str(errors[i])
            report.problems += 1
            report.by_rule[code] = report.by_rule.get(code, 0) + 1
            if report.problems > PROBLEM_CAP:
                continue
            zh, en = message(code, item, params.get((name, code)))
            row = rows[i]._mapping
            out.append(
                {
                    "check_id": report.check_id,
                    "resource_code": report.resource_code,
                    "record_key": keys[i][:200],
                    "column": name,
                    "rule": code,
                    "value": texts[i],
                    "message_zh": zh,
                    "message_en": en,
                    "batch_id": row["_batch_id"],
                    "source_row": row["_source_row"],
                }
            )
    if out:
        session.execute(insert(QualityProblem), out)


def problems(session: Session, code: str, limit: int = 500, offset: int = 0) -> list[QualityProblem]:
    """R13: the problems of a resource's latest re-check, by record key."""
    stmt = (
        select(QualityProblem)
        .where(QualityProblem.resource_code == code)
        .order_by(QualityProblem.record_key, QualityProblem.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt))


def latest(session: Session, code: str) -> QualityCheck | None:
    """R13: the latest re-check of a resource, if any."""
    stmt = (
        select(QualityCheck)
        .where(QualityCheck.resource_code == code)
        .order_by(QualityCheck.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def recheck_all(session: Session) -> list[RecheckReport]:
    """R13: re-check every provisioned resource (the daily job), each in its own savepoint so that one
    broken table does not stop the others."""
    from gongshu.store.models import StoreResource

    out: list[RecheckReport] = []
    codes = list(session.scalars(select(StoreResource.resource_code).order_by(StoreResource.resource_code)))
    for code in codes:
        try:
            with session.begin_nested():
                out.append(recheck(session, code))
        except Exception:  # a broken table is reported by its absence; the others go on
            continue
    return out
