"""R7: the push API — a department's system sends a batch of records (JSON or NDJSON) into a resource it
provides, under an Idempotency-Key: the same batch sent twice is stored once, and a different batch under
the same key is refused. The records run through the same pipeline as an upload (checks, quarantine,
history)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gongshu.aggregation.decoding import RowNumbers, Source
from gongshu.aggregation.ingest import ingest_source
from gongshu.aggregation.readers import BATCH_ROWS, cell_text
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.store import batches
from gongshu.store import service as store
from gongshu.web.deps import csrf_protect, require_actor

NDJSON = "application/x-ndjson"
REPLAY_HEADER = "Idempotent-Replay"
DIGEST_PREFIX = "push:sha256:"


async def read_body(request: Request) -> bytes:
    """R7: the request body, refused past the platform's byte limit (read in pieces, never whole first)."""
    limit = get_settings().push_max_bytes
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise GongshuError(
                "push.body_too_large",
                f"推送的请求体超过 {limit} 字节的上限",
                f"The pushed body exceeds the limit of {limit} bytes",
                status_code=413,
                details={"limit": limit},
            )
    return bytes(body)


@dataclass
class PushBatch:
    """R7: a pushed batch as received: its mode, records (with their line or position) and keys to
    delete."""

    mode: str
    records: list[tuple[int, dict[str, Any]]]
    delete: list[str] = field(default_factory=list)

    def digest(self) -> str:
        """The canonical digest of the batch (same content → same digest, whatever the format)."""
        body = {"mode": self.mode, "records": [r for _, r in self.records], "delete": self.delete}
        text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _malformed(zh: str, en: str, **details: Any) -> ValidationFailed:
    return ValidationFailed("push.json_malformed", zh, en, details=details)


def _check_mode(mode: Any) -> str:
    if mode not in ("full", "incremental"):
        raise ValidationFailed(
            "push.mode_invalid",
            "更新方式应为 full（全量）或 incremental（增量）",
            "Mode is full or incremental",
        )
    return str(mode)


def _check_delete(delete: Any) -> list[str]:
    if not isinstance(delete, list) or not all(isinstance(k, str | int) for k in delete):
        raise ValidationFailed(
            "push.delete_invalid", "delete 应为主键值的列表", "`delete` must be a list of key values"
        )
    return [str(k) for k in delete]


def parse_json(body: bytes) -> PushBatch:
    """R7: `{"mode": ..., "records": [...], "delete": [...]}`."""
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise _malformed(
            f"请求体不是有效的 JSON（第 {line} 行）：{exc}",
            f"The body is not valid JSON (line {line}): {exc}",
            line=line,
        ) from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("records", []), list):
        raise ValidationFailed(
            "push.body_invalid",
            "请求体应为含 records 列表的 JSON 对象",
            "The body must be a JSON object with a `records` list",
        )
    records = obj.get("records", [])
    for n, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise _malformed(f"第 {n} 条记录不是 JSON 对象", f"Record {n} is not a JSON object", record=n)
    batch = PushBatch(
        _check_mode(obj.get("mode", "incremental")),
        list(enumerate(records, start=1)),
        _check_delete(obj.get("delete", [])),
    )
    return batch


def parse_ndjson(body: bytes, mode: str, delete: list[str]) -> PushBatch:
    """R7: one JSON object a line; the line number of a bad line is reported."""
    records: list[tuple[int, dict[str, Any]]] = []
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _malformed(
            f"请求体不是 UTF-8 编码（字节 {exc.start}）",
            f"The body is not UTF-8 (byte {exc.start})",
            byte=exc.start,
        ) from exc
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _malformed(
                f"第 {n} 行不是有效的 JSON：{exc.msg}", f"Line {n} is not valid JSON: {exc.msg}", line=n
            ) from exc
        if not isinstance(obj, dict):
            raise _malformed(f"第 {n} 行不是 JSON 对象", f"Line {n} is not a JSON object", line=n)
        records.append((n, obj))
    return PushBatch(_check_mode(mode), records, delete)


def records_source(batch: PushBatch, batch_rows: int = BATCH_ROWS) -> Source:
    """R7: the records as a Source of string record batches (the first record's fields are the columns;
    a later record with other fields is refused, one without a field leaves it empty)."""
    columns = list(batch.records[0][1])

    def chunks() -> Iterator[tuple[pa.RecordBatch, RowNumbers]]:
        for start in range(0, len(batch.records), batch_rows):
            part = batch.records[start : start + batch_rows]
            for n, rec in part:
                extra = [k for k in rec if k not in columns]
                if extra:
                    raise ValidationFailed(
                        "store.schema_mismatch",
                        f"第 {n} 条记录有多余的字段：{'、'.join(extra)}",
                        f"Record {n} has unexpected fields: {', '.join(extra)}",
                        details={"missing": [], "unexpected": extra, "row": n},
                    )
            arrays = [pa.array([cell_text(rec.get(c)) for _, rec in part], pa.string()) for c in columns]
            yield (
                pa.RecordBatch.from_arrays(arrays, names=columns),
                np.array([n for n, _ in part], dtype=np.int64),
            )

    return Source(columns, "utf-8", "push", chunks())


def _validate(actor: Actor, code: str, batch: PushBatch, key: str | None, url: str | None) -> str:
    """R7: key present, resource known, actor the provider's data officer, batch within the limits."""
    if not key or not key.strip() or len(key) > 120:
        raise ValidationFailed(
            "push.idempotency_key_required",
            "推送须带 Idempotency-Key 请求头（1 至 120 个字符）",
            "A push needs an Idempotency-Key header (1 to 120 characters)",
        )
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
    return key.strip()


def _replay(code: str, key: str, digest: str, url: str | None) -> dict[str, Any] | None:
    """R7: the report of the batch already made under this key, or None; a different batch → 409."""
    with read_scope(url) as s:
        prior = batches.find_idempotent(s, code, key)
        if prior is None:
            return None
        if prior.filename != DIGEST_PREFIX + digest:
            raise Conflict(
                "push.idempotency_conflict",
                f"幂等键 {key} 已用于内容不同的批次 {prior.id}",
                f"The idempotency key {key} was used for a different batch ({prior.id})",
                details={"batch_id": prior.id},
            )
        return batches.report(prior)


def push_records(
    actor: Actor, code: str, batch: PushBatch, idempotency_key: str | None, *, url: str | None = None
) -> tuple[dict[str, Any], bool]:
    """R7: load a pushed batch; returns (report, replayed). The batch is stored once per key."""
    key = _validate(actor, code, batch, idempotency_key, url)
    digest = batch.digest()
    prior = _replay(code, key, digest, url)
    if prior is not None:
        return prior, True
    report = ingest_source(
        actor,
        code,
        records_source(batch),
        mode=batch.mode,
        source="push",
        filename=DIGEST_PREFIX + digest,
        idempotency_key=key,
        delete_keys=batch.delete,
        url=url,
    )
    if report["filename"] != DIGEST_PREFIX + digest:  # a concurrent push under the same key won
        raise Conflict(
            "push.idempotency_conflict",
            f"幂等键 {key} 已用于内容不同的批次 {report['id']}",
            f"The idempotency key {key} was used for a different batch ({report['id']})",
        )
    return report, False


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
    """R7: push records (JSON `{"mode", "records", "delete"}`, or NDJSON with `mode` and comma-separated
    `delete` as query parameters) under a required Idempotency-Key; 201 with the batch report, or 200
    with the first report and `Idempotent-Replay: true` when the batch was already stored."""
    body = await read_body(request)
    if request.headers.get("content-type", "").split(";")[0].strip() == NDJSON:
        keys = [k.strip() for k in delete.split(",") if k.strip()]
        batch = parse_ndjson(body, mode, keys)
    else:
        batch = parse_json(body)
    report, replayed = await run_in_threadpool(push_records, actor, code, batch, idempotency_key)
    headers = {REPLAY_HEADER: "true" if replayed else "false"}
    return JSONResponse(report, status_code=200 if replayed else 201, headers=headers)
