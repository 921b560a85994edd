"""R7 R13: the data API — upload a batch (multipart file), read a batch's report and its quarantine.
Thin: the rules live in the pipeline and the store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile
from pydantic import BaseModel, Field

from gongshu.aggregation.upload import ingest_upload
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.quality import rules
from gongshu.store import batches
from gongshu.web.deps import MAX_ID, IdPath, csrf_protect, require_actor

router = APIRouter(prefix="/api/v1/data", tags=["data"])
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def quarantine_out(q: Any) -> dict[str, Any]:
    return {
        "source_row": q.source_row,
        "column": q.column,
        "rule": q.rule,
        "value": q.value,
        "message": q.message_zh,
        "message_en": q.message_en,
        "raw": q.raw,
    }


@router.post("/{code}/batches", status_code=201, dependencies=Protected)
async def upload_batch(
    actor: LoggedIn,
    code: str,
    file: Annotated[UploadFile, File()],
    mode: Annotated[str, Form(pattern="^(full|incremental)$")] = "full",
    encoding: Annotated[str, Form(max_length=20)] = "",
    idempotency_key: Annotated[str | None, Header(max_length=120)] = None,
) -> dict[str, Any]:
    """R7 R13: load a file (CSV, XLSX, JSONL, Parquet) into the resource `code` (the provider's data
    officer); returns the batch report (received = accepted + refused + deduplicated). A refused file
    (schema mismatch, malformed) is a 422 with a precise error, and nothing is stored."""
    return await ingest_upload(
        actor, code, file.file, file.filename, mode=mode, encoding=encoding, idempotency_key=idempotency_key
    )


@router.get("/{code}/batches")
def list_batches(
    actor: LoggedIn, code: str, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """R7: the resource's batches, newest first."""
    with read_scope() as s:
        batches.require_view(s, actor, code)
        return [batches.report(b) for b in batches.of_resource(s, code, limit)]


@router.get("/batches/{batch_id}")
def get_batch(actor: LoggedIn, batch_id: IdPath) -> dict[str, Any]:
    """R7 R13: a batch's report."""
    with read_scope() as s:
        batch = batches.get(s, batch_id)
        batches.require_view(s, actor, batch.resource_code)
        return batches.report(batch) | {"quarantined": batches.quarantine_count(s, batch_id)}


@router.get("/batches/{batch_id}/quarantine")
def get_quarantine(
    actor: LoggedIn,
    batch_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    """R13: the rows the batch refused, with source row, column, rule and message (the read is audited)."""
    with session_scope() as s:
        _, rows, total = batches.read_quarantine(s, actor, batch_id, limit, offset)
        return {"total": total, "rows": [quarantine_out(q) for q in rows]}


class RuleIn(BaseModel):
    item: str = Field(max_length=64)
    kind: str = Field(max_length=20)
    params: dict[str, Any] = Field(default_factory=dict)


@router.get("/{code}/rules")
def get_rules(actor: LoggedIn, code: str) -> list[dict[str, Any]]:
    """R13: the quality rules declared for the resource beyond its items."""
    with read_scope() as s:
        batches.require_view(s, actor, code)
        return [{"item": r.item, "kind": r.kind, "params": r.params} for r in rules.specs_of(s, code)]


@router.put("/{code}/rules", dependencies=Protected)
def put_rules(actor: LoggedIn, code: str, body: list[RuleIn]) -> list[dict[str, Any]]:
    """R13: replace the resource's declared rules (enum, range, pattern, date_range, complete) — the
    provider's data officer; every rule is checked before any is stored."""
    with session_scope() as s:
        out = rules.set_rules(s, actor, code, [r.model_dump() for r in body])
        return [{"item": r.item, "kind": r.kind, "params": r.params} for r in out]
