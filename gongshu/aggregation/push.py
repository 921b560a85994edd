"""R7: the push API — a department's system sends a batch of records (JSON or NDJSON) into a resource it
provides, under an Idempotency-Key: the same batch sent twice is stored once, and a different batch under
the same key is refused; a batch that failed stored nothing and does not use its key up (a retry runs
again). The records run through the same pipeline as an upload (checks, quarantine, history).

How JSON values are read (R13: the item's checks then decide): a string as it is; a number as its JSON
text (an item typed as text keeps it as text: 12.5 → "12.5", an integral 12.0 → "12"); true and false as
the words `true` and `false` — a yes/no item reads them, an integer or decimal item refuses them; null as
empty; an object or list as its JSON text. The body's media type and malformed input are refused by
`push_body` (415, 422 with their own codes) before anything is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from gongshu.aggregation import client_input
from gongshu.aggregation.decoding import RowNumbers, Source
from gongshu.aggregation.ingest import ingest_source
from gongshu.aggregation.push_body import PushBatch, body_format, parse_json, parse_ndjson, read_body
from gongshu.aggregation.readers import BATCH_ROWS, cell_text
from gongshu.aggregation.upload import stored_or_refused
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.web.deps import csrf_protect, require_actor

REPLAY_HEADER = "Idempotent-Replay"
DIGEST_PREFIX = "push:sha256:"


def push_cell(value: Any) -> str | None:
    """R7: a pushed JSON value as the text the checks read — true and false as the words (so that an
    integer or decimal item refuses them, a yes/no item reads them), the rest as `cell_text`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return cell_text(value)


def records_source(batch: PushBatch, batch_rows: int = BATCH_ROWS) -> Source:
    """R7: the records as a Source of string record batches (the first record's fields are the columns;
    a later record with other fields is refused — before any batch opens: nothing is stored —, one
    without a field leaves it empty)."""
    columns = list(batch.records[0][1])
    known = set(columns)
    for n, rec in batch.records:
        if not known.issuperset(rec):
            extra = [k for k in rec if k not in known]
            raise ValidationFailed(
                "store.schema_mismatch",
                f"第 {n} 条记录有多余的字段：{'、'.join(extra)}",
                f"Record {n} has unexpected fields: {', '.join(extra)}",
                details={"missing": [], "unexpected": extra, "row": n},
            )

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        for start in range(0, len(batch.records), batch_rows):
            part = batch.records[start : start + batch_rows]
            arrays = [pa.array([push_cell(rec.get(c)) for _, rec in part], pa.string()) for c in columns]
            yield (
                pa.RecordBatch.from_arrays(arrays, names=columns),
                np.array([n for n, _ in part], dtype=np.int64),
            )

    return Source(columns, "utf-8", "push", chunks())


def _validate(actor: Actor, code: str, batch: PushBatch, key: str | None, url: str | None) -> str:
    """R7: key present (visible ASCII: `client_input.idempotency_key`), resource known, actor the
    provider's data officer, batch within the limits."""
    checked = client_input.idempotency_key(key, domain="push", required=True)
    assert checked is not None  # required
    with read_scope(url) as s:
        store.get_resource(s, code)
        provider = store.provider_of(s, code)
        if not decide(s, actor, Action.DATA_INGEST, org_id=provider).allowed:
            raise Forbidden(
                "push.not_provider",
                f"只有资源 {code} 提供单位的数据专员可以推送数据",
                f"Only the data officers of the provider of {code} may push data into it",
            )
    if not batch.records:
        raise ValidationFailed(
            "push.empty_batch", "推送的批次没有任何记录", "The pushed batch has no records"
        )
    limit = get_settings().push_max_records
    if len(batch.records) > limit:
        raise GongshuError(
            "push.too_many_records",
            f"一次推送最多 {limit} 条记录，本次 {len(batch.records)} 条",
            f"A push holds at most {limit} records; this one has {len(batch.records)}",
            status_code=413,
            details={"limit": limit, "received": len(batch.records)},
        )
    return checked


def _replay(code: str, key: str, digest: str, url: str | None) -> dict[str, Any] | None:
    """R7: the report of the batch stored under this key, or None (none, or only failed ones: a failed
    batch stored nothing and does not hold its key); a different batch → 409 `push.idempotency_conflict`,
    one still loading → 409 `push.idempotency_in_progress`."""
    with read_scope(url) as s:
        prior = batches.find_idempotent(s, code, key)
        if prior is None:
            return None
        return _stored(batches.report(prior), key, digest)


def _stored(report: dict[str, Any], key: str, digest: str) -> dict[str, Any]:
    """R7: the batch made under `key` answers this push only when it holds this content and was stored."""
    if report["filename"] != DIGEST_PREFIX + digest:
        raise Conflict(
            "push.idempotency_conflict",
            f"幂等键 {key} 已用于内容不同的批次 {report['id']}",
            f"The idempotency key {key} was used for a different batch ({report['id']})",
            details={"batch_id": report["id"]},
        )
    if report["status"] not in ("committed", "failed"):
        raise Conflict(
            "push.idempotency_in_progress",
            f"幂等键 {key} 的批次 {report['id']} 仍在加载，请稍后再查询或重试",
            f"The batch {report['id']} under the idempotency key {key} is still loading; retry later",
            details={"batch_id": report["id"]},
        )
    return report


def push_records(
    actor: Actor, code: str, batch: PushBatch, idempotency_key: str | None, *, url: str | None = None
) -> tuple[dict[str, Any], bool]:
    """R7: load a pushed batch; returns (report, replayed). The batch is stored once per key; a batch
    that stored nothing (a full push without one accepted row) is a 422 carrying its report
    (`ingest.nothing_accepted`), and its key stays free for the corrected push."""
    key = _validate(actor, code, batch, idempotency_key, url)
    digest = batch.digest()
    prior = _replay(code, key, digest, url)
    if prior is not None:
        return prior, True
    records = records_source(batch)  # a record with unexpected fields is refused here, before any batch
    try:
        report = ingest_source(
            actor,
            code,
            records,
            mode=batch.mode,
            source="push",
            filename=DIGEST_PREFIX + digest,
            idempotency_key=key,
            delete_keys=batch.delete,
            url=url,
        )
    except IntegrityError:  # a concurrent push under the same key opened its batch first
        prior = _replay(code, key, digest, url)
        if prior is None:
            raise
        return prior, True
    return stored_or_refused(_stored(report, key, digest)), False


router = APIRouter(prefix="/api/v1/data", tags=["data"])


@router.post("/{code}/push", status_code=201, dependencies=[Depends(csrf_protect)])
async def push(
    request: Request,
    actor: Annotated[Actor, Depends(require_actor)],
    code: str,
    idempotency_key: Annotated[str | None, Header(max_length=120)] = None,
    mode: str = "incremental",
    delete: str = "",
) -> JSONResponse:
    """R7: push records (`application/json`: `{"mode", "records", "delete"}`; or `application/x-ndjson`
    / `application/jsonl`: one record a line, `mode` and comma-separated `delete` as query parameters),
    UTF-8, under a required Idempotency-Key (visible ASCII); 201 with the batch report, or 200 with the
    first report and `Idempotent-Replay: true` when the batch was already stored. Refusals, nothing
    stored: another Content-Type 415 `push.unsupported_media_type`; malformed input 422 (`push.*`); a
    full push without one accepted row 422 `ingest.nothing_accepted` with the batch report in
    `details.batch` (the data kept as it was). A failed batch does not use its key up: the retry runs."""
    kind = body_format(request.headers.get("content-type"))  # before the body is read
    body = await read_body(request)
    if kind == "ndjson":
        keys = [k.strip() for k in delete.split(",") if k.strip()]
        batch = parse_ndjson(body, mode, keys)
    else:
        batch = parse_json(body)
    report, replayed = await run_in_threadpool(push_records, actor, code, batch, idempotency_key)
    headers = {REPLAY_HEADER: "true" if replayed else "false"}
    return JSONResponse(report, status_code=200 if replayed else 201, headers=headers)
