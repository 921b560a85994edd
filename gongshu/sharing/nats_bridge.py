"""R19 (method 4, data streams), R26: the production stream backend — NATS JetStream.

Two halves:

* the publisher follows every resource's change feed and publishes each change (all items: internal) to
  the JetStream stream GONGSHU_CHANGES on `gongshu.changes.<resource_code>`, header `Nats-Msg-Id` = the
  event id (JetStream drops a re-published id inside its duplicate window);
* the delivery of one grant (`deliver_to_nats`) asks the access decision point per batch, projects the
  events on the granted items and rows, audits the read, and publishes them with the batch's sealed
  receipt to `gongshu.grants.<grant_id>` (kept in the stream GONGSHU_GRANTS); a refusal (revoked or
  expired grant) publishes an `end` message with its reason, is audited, and stops the delivery. The
  `sharing.stream_publish` job runs both halves every few seconds: the publisher, then `deliver_grants`
  for every stream grant in its period (the platform acting for the consumer organisation).

Security (R26): the raw `gongshu.changes.>` subjects carry every item and are internal to the platform.
The NATS account of a consumer must be allowed to subscribe to `gongshu.grants.<its grant ids>` (and the
JetStream API of its own durable consumers) only — never to `gongshu.changes.>`.

Resumption: the last published event id per resource and per grant is kept in a small JSON state file
under the data folder; consumers resume with a durable JetStream consumer on their grant's subject."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import select

from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.service import AccessDenied, record_denial
from gongshu.kernel.audit.service import record
from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden, NotFound
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import now
from gongshu.sharing import streams
from gongshu.store import service as store

EVENT_HEADER = "Gongshu-Event"  # change, receipt, end
EVENT_ID_HEADER = "Gongshu-Event-Id"


@dataclass(frozen=True)
class NatsNames:
    """The JetStream streams and subject prefixes (tests use unique ones)."""

    changes_stream: str = "GONGSHU_CHANGES"
    changes_prefix: str = "gongshu.changes"
    grants_stream: str = "GONGSHU_GRANTS"
    grants_prefix: str = "gongshu.grants"
    state_file: str = "nats_state.json"

    def change_subject(self, code: str) -> str:
        return f"{self.changes_prefix}.{subject_token(code)}"

    def grant_subject(self, grant_id: int) -> str:
        return f"{self.grants_prefix}.{int(grant_id)}"


DEFAULT_NAMES = NatsNames()


def subject_token(code: str) -> str:
    """A resource code as one NATS subject token (no dots, spaces or wildcards)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", code) or "_"


@dataclass
class BridgeState:
    """The last published event id per resource (`changes`) and per grant (`grants`)."""

    path: Path
    changes: dict[str, int] = field(default_factory=dict)
    grants: dict[str, int] = field(default_factory=dict)
    ended: dict[str, str] = field(default_factory=dict)  # grant id → the refusal that ended its delivery

    @classmethod
    def load(cls, names: NatsNames = DEFAULT_NAMES) -> BridgeState:
        path = get_settings().ensure_data_dir() / "streams" / names.state_file
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            path, dict(data.get("changes", {})), dict(data.get("grants", {})), dict(data.get("ended", {}))
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = {"changes": self.changes, "grants": self.grants, "ended": self.ended}
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, self.path)


async def connect(url: str | None = None) -> tuple[Client, JetStreamContext]:
    nc = await nats.connect(url or get_settings().nats_url, connect_timeout=5)
    return nc, nc.jetstream()


async def ensure_streams(js: JetStreamContext, names: NatsNames = DEFAULT_NAMES) -> None:
    """Create the two JetStream streams when they are missing."""
    for stream, prefix in (
        (names.changes_stream, names.changes_prefix),
        (names.grants_stream, names.grants_prefix),
    ):
        try:
            await js.stream_info(stream)
        except NotFoundError:
            await js.add_stream(name=stream, subjects=[f"{prefix}.>"])


async def publish_changes(
    js: JetStreamContext, names: NatsNames = DEFAULT_NAMES, *, url: str | None = None, limit: int = 1000
) -> int:
    """R19: publish the changes of every resource not yet published; returns how many were published."""
    state = BridgeState.load(names)
    with read_scope(url) as s:
        codes = [str(r["resource_code"]) for r in store.resources_of(s, None)]
    published = 0
    for code in codes:
        while True:
            after = int(state.changes.get(code, 0))
            with read_scope(url) as s:
                changes: list[dict[str, Any]] = [
                    {
                        "id": c.id,
                        "resource": code,
                        "op": c.op,
                        "key": c.record_key,
                        "before": c.before,
                        "after": c.after,
                        "at": c.at.isoformat(),
                    }
                    for c in store.changes_since(s, code, after, limit)
                ]
            if not changes:
                break
            for ch in changes:
                body = json.dumps(ch, ensure_ascii=False, default=str).encode()
                await js.publish(names.change_subject(code), body, headers={"Nats-Msg-Id": str(ch["id"])})
            state.changes[code] = int(changes[-1]["id"])
            state.save()
            published += len(changes)
    return published


@dataclass(frozen=True)
class GrantDelivery:
    delivered: int
    last_id: int
    ended: str | None = None  # the refusal reason that ended the delivery


def _grant_of(actor: Actor, grant_id: int, url: str | None) -> tuple[str, str]:
    """The resource and scenario of the actor's stream grant `grant_id` (deny by default)."""
    with read_scope(url) as s:
        grant = s.get(Grant, grant_id)
        if grant is None:
            raise NotFound("grant.not_found", f"没有编号为 {grant_id} 的授权", f"No grant {grant_id}")
        if grant.consumer_org_id == actor.org_id and grant.delivery_method == streams.METHOD:
            return grant.resource_id, grant.scenario
        code, scenario = grant.resource_id, grant.scenario
    with session_scope(url) as s:  # R26: the refused attempt is audited
        record(
            s,
            actor,
            "data.read",
            object_type="resource",
            object_id=code,
            outcome="denied",
            grant_id=grant_id,
            scenario=scenario,
            detail={"reason": "stream.not_your_stream_grant", "method": streams.METHOD, "channel": "nats"},
        )
    raise Forbidden(
        "stream.not_your_stream_grant",
        "该授权不是本单位以数据流方式获取数据的授权",
        "This is not your organisation's grant for a data stream",
    )


async def deliver_to_nats(
    actor: Actor,
    grant_id: int,
    *,
    js: JetStreamContext,
    names: NatsNames = DEFAULT_NAMES,
    url: str | None = None,
    limit: int = streams.DEFAULT_LIMIT,
) -> GrantDelivery:
    """R19, R26: publish the grant's pending events to its subject — decided, projected, audited and
    receipted per batch; a refusal publishes `end` with the reason (audited) and stops."""
    code, scenario = _grant_of(actor, grant_id, url)
    subject = names.grant_subject(grant_id)
    state = BridgeState.load(names)
    after = int(state.grants.get(str(grant_id), 0))
    delivered = 0
    while True:
        try:
            with session_scope(url) as s:  # the audit entry commits only once the batch is published
                batch = streams.deliver_batch(
                    s, actor, code, scenario, after, limit, path=subject, channel="nats"
                )
                for ev in batch.events:
                    await js.publish(
                        subject,
                        json.dumps(ev.to_dict(), ensure_ascii=False).encode(),
                        headers={
                            "Nats-Msg-Id": f"{grant_id}-{ev.id}",
                            EVENT_HEADER: "change",
                            EVENT_ID_HEADER: str(ev.id),
                        },
                    )
                if batch.events:
                    await js.publish(
                        subject,
                        json.dumps(batch.receipt, ensure_ascii=False).encode(),
                        headers={
                            "Nats-Msg-Id": f"{grant_id}-r{batch.events[-1].id}",
                            EVENT_HEADER: "receipt",
                        },
                    )
        except AccessDenied as exc:
            with session_scope(url) as s:
                record_denial(s, exc)
            end = exc.to_dict() | {"reason": exc.code}
            await js.publish(
                subject, json.dumps(end, ensure_ascii=False).encode(), headers={EVENT_HEADER: "end"}
            )
            return GrantDelivery(delivered, after, exc.code)
        delivered += len(batch.events)
        if batch.cursor == after:
            return GrantDelivery(delivered, after)
        after = batch.cursor
        state.grants[str(grant_id)] = after
        state.save()


async def deliver_grants(
    js: JetStreamContext, names: NatsNames = DEFAULT_NAMES, url: str | None = None
) -> dict[int, GrantDelivery]:
    """R19, R26: the scheduled half of the NATS backend — every stream grant in its period gets its
    pending events on its subject, delivered by the platform acting for the consumer organisation (its
    data officer role), each batch decided, audited and receipted (`deliver_to_nats`). A grant whose
    delivery was refused (revoked, expired) gets its one `end` message and is not tried again."""
    from gongshu.sharing.delivery_rows import system_consumer

    state = BridgeState.load(names)
    with read_scope(url) as s:
        rows = s.execute(
            select(Grant.id, Grant.consumer_org_id)
            .where(Grant.delivery_method == streams.METHOD, Grant.valid_from <= now())
            .order_by(Grant.id)
        ).all()
        todo = [(gid, system_consumer(s, org)) for gid, org in rows if str(gid) not in state.ended]
    out: dict[int, GrantDelivery] = {}
    for gid, actor in todo:
        out[gid] = result = await deliver_to_nats(actor, gid, js=js, names=names, url=url)
        if result.ended:
            state = BridgeState.load(names)
            state.ended[str(gid)] = result.ended
            state.save()
    return out


async def follow(
    actor: Actor,
    grant_id: int,
    *,
    js: JetStreamContext,
    stop: asyncio.Event,
    names: NatsNames = DEFAULT_NAMES,
    url: str | None = None,
    poll_seconds: float | None = None,
) -> GrantDelivery:
    """R19: keep delivering the grant's events until `stop` is set or access is refused."""
    poll = poll_seconds if poll_seconds is not None else get_settings().stream_poll_seconds
    total, last = 0, 0
    while not stop.is_set():
        result = await deliver_to_nats(actor, grant_id, js=js, names=names, url=url)
        total, last = total + result.delivered, result.last_id
        if result.ended:
            return GrantDelivery(total, last, result.ended)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll)
    return GrantDelivery(total, last)


async def subscribe_grant(
    js: JetStreamContext, grant_id: int, durable: str, names: NatsNames = DEFAULT_NAMES
) -> JetStreamContext.PullSubscription:
    """The consumer's side: a durable pull consumer on the grant's subject — reconnecting with the same
    durable name continues after the last acknowledged message, with no gap and no duplicate."""
    return await js.pull_subscribe(names.grant_subject(grant_id), durable=durable, stream=names.grants_stream)


def decode(msg: Any) -> tuple[str, dict[str, Any]]:
    """A grant-subject message as (kind, data): kind is change, receipt or end."""
    kind = (msg.headers or {}).get(EVENT_HEADER, "change")
    return kind, json.loads(msg.data)
