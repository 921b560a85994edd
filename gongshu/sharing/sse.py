"""R19 (method 4): data streams over Server-Sent Events, the embedded default.

    GET /api/v1/data/{code}/stream?scenario=…   (Last-Event-ID header, or ?after=, to resume)

Each change is `id: <event id>` / `event: change` / `data: <json>`; each delivered batch is followed by
`event: receipt` (its sealed receipt, whose response digest covers `streams.batch_body` of the batch);
a comment line keeps the connection alive. Access is decided on connect (refused: 403, audited) and
again on every poll of the feed: a revoked or expired grant ends the stream with `event: end`, carrying
the reason, and the refusal is audited (R26)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from gongshu.kernel.access.service import AccessDenied, record_denial
from gongshu.kernel.config import get_settings
from gongshu.kernel.db import session_scope
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.sharing import streams
from gongshu.web.deps import current_actor

router = APIRouter(prefix="/api/v1/data", tags=["streams"])


def sse_message(data: Any, *, event: str, event_id: int | None = None) -> bytes:
    """One Server-Sent Event (JSON data on one line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


def _start_id(last_event_id: str | None, after: int | None) -> int:
    """R19: where a (re)connection resumes — after the Last-Event-ID header, else after `?after=`."""
    raw = (last_event_id or "").strip() or (str(after) if after is not None else "0")
    if not raw.isdigit():
        raise ValidationFailed(
            "stream.bad_event_id",
            f"事件编号 {raw} 无效，应为非负整数",
            f"Event id {raw} is invalid; it must be a non-negative integer",
            field="Last-Event-ID",
        )
    return int(raw)


def _connect(actor: Actor, code: str, scenario: str | None, path: str) -> None:
    """R19, R26: decide on connect (AccessDenied propagates: the web layer audits it and answers 403)."""
    with session_scope() as session:
        streams.decide_stream(session, actor, code, scenario, path=path)


def _poll(actor: Actor, code: str, scenario: str | None, after: int, path: str) -> streams.StreamBatch:
    with session_scope() as session:
        return streams.deliver_batch(session, actor, code, scenario, after, path=path, channel="sse")


def _deny(exc: AccessDenied) -> None:
    with session_scope() as session:
        record_denial(session, exc)


async def event_stream(
    request: Request, actor: Actor, code: str, scenario: str | None, after: int, path: str
) -> AsyncIterator[bytes]:
    """R19, R26: follow the feed — every poll re-decides access; each batch is audited and receipted."""
    settings = get_settings()
    poll = max(settings.stream_poll_seconds, 0.01)
    heartbeat = max(settings.stream_heartbeat_seconds, poll)
    cursor = after
    last_sent = time.monotonic()
    yield b": gongshu stream\n\n"
    while True:
        if await request.is_disconnected():
            return
        try:
            batch = await run_in_threadpool(_poll, actor, code, scenario, cursor, path)
        except AccessDenied as exc:
            await run_in_threadpool(_deny, exc)
            yield sse_message(exc.to_dict(actor.language) | {"reason": exc.code}, event="end")
            return
        cursor = batch.cursor
        if batch.events:
            for ev in batch.events:
                yield sse_message(ev.to_dict(), event="change", event_id=ev.id)
            yield sse_message(batch.receipt, event="receipt")
            last_sent = time.monotonic()
            continue  # more may be waiting: read on without sleeping
        if time.monotonic() - last_sent >= heartbeat:
            yield b": heartbeat\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(poll)


@router.get("/{code}/stream")
async def stream(
    request: Request,
    code: str,
    scenario: str | None = Query(None, max_length=200),
    after: int | None = Query(None, ge=0),
    actor: Actor = Depends(current_actor),
) -> StreamingResponse:
    """R19: the change events of `code` the actor's grant covers, as text/event-stream."""
    start = _start_id(request.headers.get("last-event-id"), after)
    path = request.url.path
    await run_in_threadpool(_connect, actor, code, scenario, path)
    return StreamingResponse(
        event_stream(request, actor, code, scenario, start, path),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
