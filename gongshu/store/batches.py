"""R7 R13: the life of a batch — staged, loading, then committed or failed — and its report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, NotFound
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.store.models import BATCH_MODES, BATCH_SOURCES, Batch, QuarantineRow

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
    "deleted",
    "idempotency_key",
    "actor_label",
)


def find_idempotent(session: Session, resource_code: str, key: str | None) -> Batch | None:
    """R7: a batch already made with this idempotency key (a push or upload sent twice loads once)."""
    if not key:
        return None
    stmt = select(Batch).where(Batch.resource_code == resource_code, Batch.idempotency_key == key)
    return session.scalar(stmt)


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
) -> Batch:
    """R7: open a batch in the state `loading` (committed by the caller before any data moves)."""
    if mode not in BATCH_MODES or source not in BATCH_SOURCES:
        raise Conflict(
            "store.batch_mode", f"未知的批次方式：{mode}/{source}", f"Unknown batch mode: {mode}/{source}"
        )
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
    )
    session.add(batch)
    session.flush()
    record(
        session,
        actor,
        "store.batch_start",
        object_type="batch",
        object_id=batch.id,
        detail={"resource": resource_code, "mode": mode, "source": source, "filename": filename},
    )
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
    """R13: the batch report (received = accepted + refused + deduplicated)."""
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


def read_quarantine(
    session: Session, actor: Actor, batch_id: int, limit: int = 500, offset: int = 0
) -> tuple[Batch, list[QuarantineRow], int]:
    """R13 R26: the provider (or the authority) reads a batch's refused rows. They hold the rows as
    received, personal data included: the read is audited with the keyed hashes of the records' keys."""
    from gongshu.kernel.access.service import AccessDenied
    from gongshu.kernel.errors import Forbidden
    from gongshu.store.service import get_resource

    batch = get(session, batch_id)
    try:
        require_view(session, actor, batch.resource_code)
    except Forbidden as exc:  # R26: a refused read of raw rows is audited (the web layer records it)
        raise AccessDenied(
            exc.code,
            exc.message_zh,
            exc.message_en,
            actor=actor,
            resource_id=batch.resource_code,
            scenario=None,
            detail={"reason": exc.code, "method": "quarantine", "batch": batch_id},
        ) from None
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
