"""R7 R13: the life of a batch — staged, loading, then committed or failed — and its report; the rows it
refused, as the provider downloads them to fix them, and what was corrected since (R13: every refused
row is kept, the provider fixes and resubmits it; nothing is ever silently dropped)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Text, cast, func, insert, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, Forbidden, NotFound
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.store.models import (
    BATCH_MODES,
    BATCH_SOURCES,
    Batch,
    QuarantineRow,
    RecordHistory,
    ResubmittedRow,
    StoreResource,
)

T = TypeVar("T")
STALE_AFTER = dt.timedelta(
    hours=1
)  # a load beats at least every few seconds; an hour of silence means it died
REPORT_FIELDS = (
    "id",
    "resource_code",
    "mode",
    "source",
    "filename",
    "encoding",
    "status",
    "received",
    "accepted",
    "refused",
    "deduplicated",
    "completed",
    "inserted",
    "updated",
    "unchanged",
    "deleted",
    "idempotency_key",
    "actor_label",
    "resubmission_of",
)
DUPLICATE = "duplicate_key"  # a quarantine row of a key sent twice: superseded by its later row, not refused
SOURCE_ROW = "_source_row"  # the refused row's source row number in its batch, on each downloaded line
HELPER_COLUMNS = (SOURCE_ROW, "_problems")  # what the refused-rows download adds to the published items
IN_CHUNK = 500  # keys per IN (...) list when looking corrections up
KEEP_CHUNK = 10_000  # resubmitted lines per INSERT when a resubmission records them
ROW_NUMBER = r"^\s*[0-9]{1,9}(\.0*)?\s*$"  # a row number as a spreadsheet may have saved it ("7", "7.0")


def find_idempotent(session: Session, resource_code: str, key: str | None) -> Batch | None:
    """R7: the batch already made with this idempotency key, loading or stored (a push or upload sent
    twice loads once). A failed batch stored nothing, so it does not use up its key: a retry under the
    same key — the same data or corrected — runs again (`start` releases the key)."""
    if not key:
        return None
    stmt = select(Batch).where(
        Batch.resource_code == resource_code, Batch.idempotency_key == key, Batch.status != "failed"
    )
    return session.scalar(stmt)


def _release_key(session: Session, resource_code: str, key: str) -> None:
    """R7: a failed batch gives its idempotency key up to the retry that opens now (the key stays in its
    error, for the record)."""
    stmt = select(Batch).where(
        Batch.resource_code == resource_code, Batch.idempotency_key == key, Batch.status == "failed"
    )
    released = list(session.scalars(stmt))
    for batch in released:
        batch.error = {**(batch.error or {}), "idempotency_key": key}
        batch.idempotency_key = None
    if released:
        session.flush()  # before the retry's batch takes the key (one key per resource)


def start(
    session: Session,
    actor: Actor,
    resource_code: str,
    *,
    mode: str,
    source: str,
    filename: str = "",
    encoding: str = "",
    idempotency_key: str | None = None,
    resubmission_of: int | None = None,
) -> Batch:
    """R7: open a batch in the state `loading` (committed by the caller before any data moves). R13: a
    resubmission names the batch whose refused rows it brings again, corrected."""
    if mode not in BATCH_MODES or source not in BATCH_SOURCES:
        raise Conflict(
            "store.batch_mode", f"未知的批次方式：{mode}/{source}", f"Unknown batch mode: {mode}/{source}"
        )
    if idempotency_key:
        _release_key(session, resource_code, idempotency_key)
    batch = Batch(
        resource_code=resource_code,
        mode=mode,
        source=source,
        filename=filename[:255],
        encoding=encoding,
        status="loading",
        idempotency_key=idempotency_key or None,
        actor_user_id=actor.user_id,
        actor_label=actor.username,
        resubmission_of=resubmission_of,
    )
    session.add(batch)
    session.flush()
    detail: dict[str, Any] = {"resource": resource_code, "mode": mode, "source": source, "filename": filename}
    if resubmission_of is not None:
        detail["resubmission_of"] = resubmission_of
    record(session, actor, "store.batch_start", object_type="batch", object_id=batch.id, detail=detail)
    return batch


def fail(session: Session, batch_id: int, error: dict[str, Any]) -> None:
    """R7: a batch that did not complete is marked failed; its data never became visible."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        return
    batch.status, batch.finished_at, batch.error = "failed", now(), error
    batch.accepted = batch.refused = batch.deduplicated = batch.completed = 0
    batch.inserted = batch.updated = batch.deleted = 0
    record(
        session,
        None,
        "store.batch_failed",
        object_type="batch",
        object_id=batch_id,
        detail={"resource": batch.resource_code, "error": error},
    )


def heartbeat(session: Session, batch_id: int) -> None:
    """R7: a loading batch says it is alive (after its first chunk, then every few seconds), so that recovery can tell it from one
    whose process died."""
    batch = session.get(Batch, batch_id)
    if batch is not None and batch.status == "loading":
        batch.heartbeat_at = now()


def recover_stale_batches(session: Session, stale_after: dt.timedelta = STALE_AFTER) -> list[int]:
    """R7: batches left 'loading' by a process that died (no heartbeat for `stale_after`) are marked
    failed; their transaction never committed, and temporary staging tables die with their connection."""
    cutoff = now() - stale_after
    stmt = select(Batch).where(Batch.status.in_(("staged", "loading")))
    ids = [b.id for b in session.scalars(stmt) if (b.heartbeat_at or b.started_at) <= cutoff]
    for batch_id in ids:
        fail(
            session,
            batch_id,
            {
                "code": "store.batch_interrupted",
                "message": "批次加载中断（进程终止），数据未作任何改变",
                "message_en": "The batch was interrupted (its process ended); no data was changed",
            },
        )
    return ids


def get(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound("store.batch_unknown", f"批次 {batch_id} 不存在", f"No batch {batch_id}")
    return batch


def of_resource(session: Session, resource_code: str, limit: int = 100) -> list[Batch]:
    stmt = select(Batch).where(Batch.resource_code == resource_code).order_by(Batch.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def quarantine(session: Session, batch_id: int, limit: int = 500, offset: int = 0) -> list[QuarantineRow]:
    """R13: the rows a batch refused, by source row."""
    stmt = (
        select(QuarantineRow)
        .where(QuarantineRow.batch_id == batch_id)
        .order_by(QuarantineRow.source_row, QuarantineRow.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt))


def quarantine_count(session: Session, batch_id: int) -> int:
    stmt = select(func.count()).select_from(QuarantineRow).where(QuarantineRow.batch_id == batch_id)
    return int(session.scalar(stmt) or 0)


def report(batch: Batch) -> dict[str, Any]:
    """R13: the batch report (received = accepted + refused + deduplicated; accepted = inserted + updated +
    unchanged, `deleted` apart)."""
    out: dict[str, Any] = {f: getattr(batch, f) for f in REPORT_FIELDS}
    out["started_at"] = batch.started_at.isoformat() if batch.started_at else None
    out["finished_at"] = batch.finished_at.isoformat() if batch.finished_at else None
    out["error"] = batch.error
    return out


def require_view(session: Session, actor: Actor, resource_code: str) -> None:
    """R7 R13: a resource's batches and quarantine are seen by the provider's data officers and by the
    authority that supervises (R26); nobody else."""
    from gongshu.kernel.access.policy import Action
    from gongshu.kernel.access.service import decide
    from gongshu.kernel.errors import Forbidden
    from gongshu.store.service import provider_of

    org = provider_of(session, resource_code)
    if decide(session, actor, Action.DATA_INGEST, org_id=org).allowed:
        return
    if decide(session, actor, Action.SUPERVISE).allowed:
        return
    raise Forbidden(
        "store.batches_forbidden",
        "只有数据提供单位的数据专员和主管部门可查看批次",
        "Only the provider's data officers and the authority may see the batches",
    )


def _require_rows(session: Session, actor: Actor, batch: Batch, method: str) -> None:
    """R13 R26: who may have a batch's refused rows as received (the provider's data officers and the
    authority, `require_view`); a refusal is an audited refused data access (the web layer records it)."""
    from gongshu.kernel.access.service import AccessDenied

    try:
        require_view(session, actor, batch.resource_code)
    except Forbidden as exc:
        raise AccessDenied(
            exc.code,
            exc.message_zh,
            exc.message_en,
            actor=actor,
            resource_id=batch.resource_code,
            scenario=None,
            detail={"reason": exc.code, "method": method, "batch": batch.id},
        ) from None


def read_quarantine(
    session: Session, actor: Actor, batch_id: int, limit: int = 500, offset: int = 0
) -> tuple[Batch, list[QuarantineRow], int]:
    """R13 R26: the provider (or the authority) reads a batch's refused rows. They hold the rows as
    received, personal data included: the read is audited with the keyed hashes of the records' keys."""
    from gongshu.store.service import get_resource

    batch = get(session, batch_id)
    _require_rows(session, actor, batch, "quarantine")
    rows = quarantine(session, batch_id, limit, offset)
    res = get_resource(session, batch.resource_code)
    labels = {res.key_item} | {str(i.get("label_zh")) for i in res.items if i["name"] == res.key_item}
    keys = sorted({str(v) for q in rows for k, v in (q.raw or {}).items() if k in labels and v})
    record(
        session,
        actor,
        "store.quarantine_read",
        object_type="batch",
        object_id=batch_id,
        detail={"resource": batch.resource_code, "rows": len(rows), "offset": offset},
        subject_keys=keys,
    )
    return batch, rows, quarantine_count(session, batch_id)


# ---- refused rows: download, corrections, resubmission (R13) -----------------------------------------


@dataclass
class RefusedRow:
    """R13: one refused source row — its values as received (by published item name), every problem the
    checks found in it (the quarantine's cells of that row), its key as the checks normalise it, and the
    later batch that corrected it, if any (computed, never stored): a resubmission that accepted a line
    naming this row (`_source_row`), whatever its key became, or a later batch that brought the key in."""

    source_row: int
    values: dict[str, str | None]
    problems: list[QuarantineRow] = field(default_factory=list)
    key: str | None = None
    corrected_by: int | None = None

    @property
    def status(self) -> str:
        """R13: `corrected` (已更正) or `pending` (待更正)."""
        return "corrected" if self.corrected_by is not None else "pending"


def _item_of_header(res: StoreResource) -> dict[str, str]:
    """R9: how a received row names the items — by name, or by the Chinese label (the schema lock's
    alias); the quarantine keeps the row under the file's own header."""
    out = {str(i["label_zh"]): str(i["name"]) for i in res.items if i.get("label_zh")}
    out.update({str(i["name"]): str(i["name"]) for i in res.items})
    return out


def _values(res: StoreResource, raw: dict[str, Any] | None) -> dict[str, str | None]:
    """R13: a refused row's values as received, by published item name (None where the row had none)."""
    item_of = _item_of_header(res)
    out: dict[str, str | None] = {str(i["name"]): None for i in res.items}
    for header, value in (raw or {}).items():
        name = item_of.get(header)
        if name is not None and value is not None:
            out[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return out


def _canonical_keys(res: StoreResource, values: list[str | None]) -> list[str | None]:
    """R13: keys as the checks normalise them (trim, full-width to half-width, upper-case ID numbers…:
    `quality.transforms`), in the text form the store keeps them under (an integer without leading
    zeros). None for a resource without a key item (its rows are keyed by their hash, which a corrected
    row changes) and for a row without a key."""
    from gongshu.quality import transforms

    item = next((i for i in res.items if i["name"] == res.key_item), None)
    if item is None or not values:
        return [None] * len(values)
    kind = str(item.get("data_type") or "string")
    out: list[str | None] = transforms.for_type(kind, pa.array(values, pa.string())).to_pylist()
    if kind == "integer":
        out = [str(int(k)) if k is not None and k.lstrip("-").isdigit() else None for k in out]
    return out


def resubmissions_of(session: Session, batch_id: int) -> list[Batch]:
    """R13: the batches that resubmitted this batch's refused rows, and theirs in turn (a resubmission
    may refuse rows too), oldest first."""
    found: list[Batch] = []
    frontier, seen = [batch_id], {batch_id}
    while frontier:
        stmt = select(Batch).where(Batch.resubmission_of.in_(frontier)).order_by(Batch.id)
        fresh = [b for b in session.scalars(stmt) if b.id not in seen]
        seen.update(b.id for b in fresh)
        found += fresh
        frontier = [b.id for b in fresh]
    return sorted(found, key=lambda b: b.id)


def _chunks(values: list[T]) -> Iterable[list[T]]:
    return (values[i : i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK))


def keep_resubmitted_rows(
    session: Session, batch_id: int, carried: list[tuple[npt.NDArray[np.int64], pa.Array]]
) -> int:
    """R13: a resubmission records, in its commit, the original batch's row each of its lines brings
    again — the `_source_row` the refused-rows download wrote on the line, read as a row number (a
    spreadsheet may have saved it as "7.0"); a line without one (added by hand, or a file that is not the
    download) records nothing, and a row it corrects is found by its key. Returns how many were kept."""
    kept = 0
    for numbers, values in carried:
        text = pc.utf8_trim_whitespace(values.cast(pa.string()))
        valid = pc.fill_null(pc.match_substring_regex(text, ROW_NUMBER), False)
        digits = pc.replace_substring_regex(pc.if_else(valid, text, None), r"\.0*$", "")
        originals = pc.cast(digits, pa.int64()).to_pylist()
        rows = [
            {"batch_id": batch_id, "source_row": int(n), "original_row": o}
            for n, o in zip(numbers.tolist(), originals, strict=True)
            if o is not None and o > 0
        ]
        for i in range(0, len(rows), KEEP_CHUNK):
            session.execute(insert(ResubmittedRow), rows[i : i + KEEP_CHUNK])
        kept += len(rows)
    return kept


def _resubmitted(session: Session, batch: Batch, rows: set[int]) -> dict[int, int]:
    """R13: refused source row of `batch` → the resubmission that corrected it: a committed resubmission
    whose line naming that row (`ResubmittedRow`) it accepted — the line is not among its refused rows (a
    line superseded by a later line of the same key was not refused) — whatever the line's key. A line
    refused again leaves the row to fix, unless a resubmission of that resubmission accepted a line
    naming it in turn (followed to the end of the chain). The earliest such batch, if several."""
    found: dict[int, int] = {}
    frontier: dict[int, dict[int, int]] = {batch.id: {r: r for r in rows}} if rows else {}
    while frontier:  # batch → {its refused row: the row of `batch` it brings again}
        later: dict[int, dict[int, int]] = {}
        subs = select(Batch.id, Batch.resubmission_of).where(
            Batch.resubmission_of.in_(list(frontier)), Batch.status == "committed"
        )
        for sub, parent in session.execute(subs.order_by(Batch.id)).all():
            wanted = frontier[int(parent or 0)]  # never None: selected by it
            lines: list[tuple[int, int]] = []
            for part in _chunks(sorted(wanted)):
                stmt = select(ResubmittedRow.source_row, ResubmittedRow.original_row).where(
                    ResubmittedRow.batch_id == sub, ResubmittedRow.original_row.in_(part)
                )
                lines += [(int(line), int(row)) for line, row in session.execute(stmt)]
            refused: set[int] = set()
            for part in _chunks(sorted({line for line, _ in lines})):
                again = select(QuarantineRow.source_row).where(
                    QuarantineRow.batch_id == sub,
                    QuarantineRow.rule != DUPLICATE,
                    QuarantineRow.source_row.in_(part),
                )
                refused.update(int(r) for r in session.scalars(again.distinct()))
            for line, row in lines:
                mine = wanted[row]
                if line in refused:
                    later.setdefault(sub, {})[line] = mine
                else:
                    found[mine] = min(found.get(mine, sub), sub)
        frontier = later
    return found


def _corrections(session: Session, res: StoreResource, batch: Batch, keys: set[str]) -> dict[str, int]:
    """R13: key → the batch that brought it in accepted after `batch` refused it: the record is in the
    resource's table from a later batch (`_batch_id`), or a resubmission of `batch` inserted or updated it
    (its history says so, even when a later load has since deleted it)."""
    from gongshu.store.service import table_of

    if not keys or res.key_item not in {str(i["name"]) for i in res.items}:
        return {}
    table = table_of(res)
    col = table.c[res.key_item]
    try:
        python_type: type | None = col.type.python_type
    except NotImplementedError:
        python_type = None
    found: dict[str, int] = {}
    for part in _chunks(sorted(keys)):
        if python_type is int:
            target: Any = col
            wanted: list[Any] = [int(k) for k in part]
        elif python_type is str:
            target, wanted = col, part
        else:  # a key of another type (a date…): compared in its text form
            target, wanted = cast(col, Text), part
        stmt = select(target, table.c["_batch_id"]).where(target.in_(wanted), table.c["_batch_id"] > batch.id)
        for key, by in session.execute(stmt):
            found[str(key)] = int(by)
    rest = sorted(keys - found.keys())
    resubmitted = [b.id for b in resubmissions_of(session, batch.id) if b.status == "committed"]
    if rest and resubmitted:
        for part in _chunks(rest):
            stmt = (
                select(RecordHistory.record_key, func.max(RecordHistory.batch_id))
                .where(
                    RecordHistory.resource_code == res.resource_code,
                    RecordHistory.record_key.in_(part),
                    RecordHistory.batch_id.in_(resubmitted),
                    RecordHistory.op.in_(("insert", "update")),
                )
                .group_by(RecordHistory.record_key)
            )
            for key, by in session.execute(stmt):
                if by is not None:
                    found[str(key)] = int(by)
    return found


def _refused_cells(batch_id: int) -> Any:
    """R13: the quarantine cells of a batch's refused rows (not its superseded duplicates), by row."""
    return (
        select(QuarantineRow)
        .where(QuarantineRow.batch_id == batch_id, QuarantineRow.rule != DUPLICATE)
        .order_by(QuarantineRow.source_row, QuarantineRow.id)
    )


def _group(
    session: Session, res: StoreResource, batch: Batch, cells: list[QuarantineRow]
) -> list[RefusedRow]:
    """R13: the cells of a batch's refused rows, one `RefusedRow` per source row, with its correction —
    by a resubmission's line naming the row (`_resubmitted`), else by its key (`_corrections`: a later
    batch of any route brought it in)."""
    rows: dict[int, RefusedRow] = {}
    for q in cells:
        row = rows.get(q.source_row)
        if row is None:
            row = rows[q.source_row] = RefusedRow(q.source_row, _values(res, q.raw))
        row.problems.append(q)
    out = list(rows.values())
    keys = _canonical_keys(res, [r.values.get(res.key_item) for r in out])
    for row, key in zip(out, keys, strict=True):
        row.key = key
    corrected = _corrections(session, res, batch, {k for k in keys if k})
    resubmitted = _resubmitted(session, batch, set(rows))
    for row in out:
        by_key = corrected.get(row.key) if row.key else None
        row.corrected_by = resubmitted.get(row.source_row, by_key)
    return out


def refused_count(session: Session, batch_id: int) -> int:
    """R13: how many source rows the batch refused (its quarantine's rows other than superseded
    duplicates, counted once however many of their cells failed)."""
    stmt = select(func.count(func.distinct(QuarantineRow.source_row))).where(
        QuarantineRow.batch_id == batch_id, QuarantineRow.rule != DUPLICATE
    )
    return int(session.scalar(stmt) or 0)


def refused_rows(
    session: Session,
    actor: Actor,
    batch_id: int,
    limit: int | None = None,
    offset: int = 0,
    *,
    method: str = "refused_rows",
) -> tuple[Batch, list[RefusedRow], int]:
    """R13 R26: a batch's refused rows, one per source row (`limit`/`offset` count rows, not cells), each
    with its problems and whether it was corrected since (已更正, by which batch) or is still to fix
    (待更正); and how many rows the batch refused. The same access as the quarantine (`read_quarantine`),
    and the read is audited the same way, with the keyed hashes of the records' keys."""
    from gongshu.store.service import get_resource

    batch = get(session, batch_id)
    _require_rows(session, actor, batch, method)
    res = get_resource(session, batch.resource_code)
    stmt = _refused_cells(batch_id)
    if limit is not None or offset:
        numbers = (
            select(QuarantineRow.source_row)
            .where(QuarantineRow.batch_id == batch_id, QuarantineRow.rule != DUPLICATE)
            .group_by(QuarantineRow.source_row)
            .order_by(QuarantineRow.source_row)
            .offset(offset)
        )
        if limit is not None:
            numbers = numbers.limit(limit)
        stmt = stmt.where(QuarantineRow.source_row.in_(numbers.scalar_subquery()))
    rows = _group(session, res, batch, list(session.scalars(stmt)))
    received = {r.values.get(res.key_item) for r in rows}
    keys = sorted({str(k) for k in received | {r.key for r in rows} if k})
    record(
        session,
        actor,
        "store.quarantine_read",
        object_type="batch",
        object_id=batch_id,
        detail={"resource": batch.resource_code, "rows": len(rows), "offset": offset, "method": method},
        subject_keys=keys,
    )
    return batch, rows, refused_count(session, batch_id)


def correction_counts(session: Session, batch: Batch) -> dict[str, int]:
    """R13: the batch report's part on its refused rows — how many, how many corrected since, how many
    still to fix. Counts only (no value leaves): the caller has decided the reader may see the report."""
    from gongshu.store.service import get_resource

    res = get_resource(session, batch.resource_code)
    rows = _group(session, res, batch, list(session.scalars(_refused_cells(batch.id))))
    corrected = sum(r.corrected_by is not None for r in rows)
    return {"refused_rows": len(rows), "corrected": corrected, "to_fix": len(rows) - corrected}


def corrected_by_cells(session: Session, batch: Batch, cells: list[QuarantineRow]) -> list[int | None]:
    """R13: for quarantine cells (the API's per-cell list), the batch that corrected each cell's row since
    (None: still to fix, or a superseded duplicate, which was never refused)."""
    from gongshu.store.service import get_resource

    res = get_resource(session, batch.resource_code)
    refused = [q for q in cells if q.rule != DUPLICATE]
    by_row = {r.source_row: r.corrected_by for r in _group(session, res, batch, refused)}
    return [by_row.get(q.source_row) if q.rule != DUPLICATE else None for q in cells]


def problems_text(row: RefusedRow, items: list[dict[str, Any]], lang: str = "zh") -> str:
    """R13 R28: a refused row's problems in words — column, rule, message — in the reader's language."""
    from gongshu.store.service import column_shown

    item_of = {str(i["name"]): i for i in items}
    parts = []
    for q in row.problems:
        item = item_of.get(q.column)
        column = column_shown(item, lang) if item is not None else q.column
        if lang == "en":
            parts.append(f"column {column}, rule {q.rule}: {q.message_en}")
        else:
            parts.append(f"列 {column}，规则 {q.rule}：{q.message_zh}")
    return ("; " if lang == "en" else "；").join(parts)


def refused_csv(session: Session, actor: Actor, batch_id: int, lang: str = "zh") -> tuple[str, bytes]:
    """R13: the batch's refused rows as a CSV to fix and resubmit — one line per refused source row, the
    resource's published items with the values as received, then `_source_row` and `_problems` (in the
    reader's language); UTF-8 with a BOM (Excel opens it as such). Returns (file name, bytes). The read
    is audited (`refused_rows`)."""
    from gongshu.store.service import get_resource

    batch, rows, _ = refused_rows(session, actor, batch_id, method="refused_csv")
    items = get_resource(session, batch.resource_code).items
    names = [str(i["name"]) for i in items]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*names, *HELPER_COLUMNS])
    for row in rows:
        writer.writerow(
            [*(row.values.get(n) or "" for n in names), row.source_row, problems_text(row, items, lang)]
        )
    return f"{batch.resource_code}-batch{batch.id}-refused.csv", ("\ufeff" + out.getvalue()).encode("utf-8")


def resubmittable(session: Session, actor: Actor, batch_id: int) -> Batch:
    """R7 R13: the batch whose refused rows the actor may resubmit, corrected: it exists (404), the actor
    may load data into its resource — the provider's data officers (403), it committed (409: a failed
    batch loaded nothing — its file is uploaded again; a loading one is not over) and it refused rows
    (409)."""
    from gongshu.kernel.access.policy import Action
    from gongshu.kernel.access.service import decide
    from gongshu.store.service import provider_of

    batch = get(session, batch_id)
    if not decide(
        session, actor, Action.DATA_INGEST, org_id=provider_of(session, batch.resource_code)
    ).allowed:
        raise Forbidden(
            "store.resubmit_forbidden",
            "只有数据提供单位的数据专员可以重新提交被拒收的行",
            "Only the provider's data officers may resubmit the refused rows",
        )
    if batch.status == "failed":
        raise Conflict(
            "store.resubmit_batch_failed",
            f"批次 {batch.id} 加载失败，没有写入任何数据，不能重新提交更正：请改正文件后在上传页重新上传",
            f"Batch {batch.id} failed and loaded nothing, so it cannot be resubmitted: correct the file and "
            "upload it again on the upload page",
            details={"batch_id": batch.id, "status": batch.status},
        )
    if batch.status != "committed":
        raise Conflict(
            "store.resubmit_batch_loading",
            f"批次 {batch.id} 仍在加载中，请在它完成后再重新提交更正",
            f"Batch {batch.id} is still loading; resubmit its corrections once it has finished",
            details={"batch_id": batch.id, "status": batch.status},
        )
    if not batch.refused:
        raise Conflict(
            "store.resubmit_nothing_refused",
            f"批次 {batch.id} 没有被拒收的行，无需重新提交",
            f"Batch {batch.id} refused no row: there is nothing to resubmit",
            details={"batch_id": batch.id},
        )
    return batch
