"""R7 R13: the data API — upload a batch (multipart file), read a batch's report and its quarantine,
download its refused rows as a CSV and resubmit them corrected, look up a record and its history. Thin:
the rules live in the pipeline and the store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gongshu.aggregation import records
from gongshu.aggregation.upload import check_upload, ingest_upload, resubmit_upload, stored_or_refused
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.quality import rules
from gongshu.store import batches
from gongshu.web.deps import MAX_ID, IdPath, csrf_protect, require_actor
from gongshu.web.render import lang_of

router = APIRouter(prefix="/api/v1/data", tags=["data"])
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def quarantine_out(q: Any, corrected_by: int | None = None) -> dict[str, Any]:
    return {
        "source_row": q.source_row,
        "column": q.column,
        "rule": q.rule,
        "value": q.value,
        "message": q.message_zh,
        "message_en": q.message_en,
        "raw": q.raw,
        "corrected_by": corrected_by,
    }


def refused_csv_response(name: str, body: bytes) -> Response:
    """R13: the refused rows as a CSV download (UTF-8 with a BOM), under its file name."""
    import re
    from urllib.parse import quote

    plain = re.sub(r"[^A-Za-z0-9._-]", "_", name)  # the header's ASCII form; the exact name follows
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",  # the rows as received hold personal data
        },
    )


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
    (schema mismatch, malformed) is a 422 with a precise error, and nothing is stored; so is a full load
    without one accepted row (`ingest.nothing_accepted`, the batch report in `details.batch`, the data
    kept as it was). The batch keeps the file's base name; an Idempotency-Key (visible ASCII) loads
    once, unless its batch failed (a retry under it runs again)."""
    report = await ingest_upload(
        actor, code, file.file, file.filename, mode=mode, encoding=encoding, idempotency_key=idempotency_key
    )
    return stored_or_refused(report)


@router.post("/{code}/check", dependencies=Protected)
async def check_batch(
    actor: LoggedIn,
    code: str,
    file: Annotated[UploadFile, File()],
    encoding: Annotated[str, Form(max_length=20)] = "",
) -> dict[str, Any]:
    """R13: check a file against the resource's items and rules as a load would, storing nothing (预检):
    the counts (received = accepted + refused + deduplicated), the problems by column and rule, and the
    first problem cells with their source rows. The same access as the upload (403), the same refusal of
    a file that cannot be loaded at all (422)."""
    return await check_upload(actor, code, file.file, file.filename, encoding=encoding)


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
    """R7 R13: a batch's report, with its refused rows counted — how many, how many corrected since (a
    resubmission accepted the line naming the row, or a later batch brought its key in), how many still
    to fix — and its resubmissions."""
    with read_scope() as s:
        batch = batches.get(s, batch_id)
        batches.require_view(s, actor, batch.resource_code)
        return (
            batches.report(batch)
            | {"quarantined": batches.quarantine_count(s, batch_id)}
            | batches.correction_counts(s, batch)
            | {"resubmissions": [b.id for b in batches.resubmissions_of(s, batch_id)]}
        )


@router.get("/batches/{batch_id}/quarantine")
def get_quarantine(
    actor: LoggedIn,
    batch_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    """R13: the rows the batch refused, with source row, column, rule and message (the read is audited);
    `corrected_by`: the resubmission that accepted the line naming the row (`_source_row`), else the later
    batch that brought the row's key in accepted (None: still to fix)."""
    with session_scope() as s:
        batch, rows, total = batches.read_quarantine(s, actor, batch_id, limit, offset)
        corrected = batches.corrected_by_cells(s, batch, rows)
        return {"total": total, "rows": [quarantine_out(q, c) for q, c in zip(rows, corrected, strict=True)]}


@router.get("/batches/{batch_id}/refused.csv")
def get_refused_csv(request: Request, actor: LoggedIn, batch_id: IdPath) -> Response:
    """R13: the batch's refused rows to fix and resubmit — one line per refused source row, the published
    items with the values as received, then `_source_row` and `_problems` (column, rule, message);
    UTF-8 with a BOM. The same access as the quarantine, and audited like it."""
    with session_scope() as s:
        name, body = batches.refused_csv(s, actor, batch_id, lang_of(request))
    return refused_csv_response(name, body)


@router.post("/batches/{batch_id}/resubmit", status_code=201, dependencies=Protected)
async def resubmit_batch(
    actor: LoggedIn,
    batch_id: IdPath,
    file: Annotated[UploadFile, File()],
    encoding: Annotated[str, Form(max_length=20)] = "",
    idempotency_key: Annotated[str | None, Header(max_length=120)] = None,
) -> dict[str, Any]:
    """R13: resubmit the corrected refused rows of batch `batch_id` (the provider's data officer): the file
    (the refused-rows CSV with its values fixed — `_source_row` names the refused row each line corrects,
    even when its key was corrected; neither it nor `_problems` is loaded as data — or any file
    with the published columns) loads as an incremental batch of the same resource naming the original
    (`resubmission_of`); returns its report. Refused: a batch that refused no row or failed (409), of a
    resource the caller may not load (403); a file refused as by the upload (422), storing nothing."""
    return await resubmit_upload(
        actor, batch_id, file.file, file.filename, encoding=encoding or None, idempotency_key=idempotency_key
    )


@router.get("/{code}/records/{key}")
def get_record(actor: LoggedIn, code: str, key: Annotated[str, Path(max_length=400)]) -> dict[str, Any]:
    """R13 R14 R26: the record `key` of resource `code` — its values (`record`, null once deleted), where
    they came from (`lineage`: batch, file, source, source row, ingested and updated at) and its history,
    newest first (op, the items changed before → after, batch and file, correction case, who) — for the
    provider's data officers and the authority's supervisors. The key is taken as the load's checks take
    it (trimmed; an ID number or USCC upper-cased, full-width digits half-width). Errors: a malformed key
    422 (`store.record_key_empty`, `store.record_key_invalid`, or the identifier's own code such as
    `id.check_digit`); an unknown resource 404 `store.resource_unknown`; a key without a record — and a
    caller who may not look records up — 404 `store.record_unknown`. Every look-up is audited."""
    with session_scope() as s:
        view = records.record_view(s, actor, code, key)
    if not view.found:  # the look-up stays in the audit log (committed above)
        raise records.not_found(code, view.key)
    return records.as_json(view)


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
