"""R19 (method 4, data streams), R17, R26: change events of a resource, projected for one consumer.

A stream follows the store's change feed (the outbox: one record-history row per insert, update or
delete). Every batch handed to a consumer asks the access decision point again (method "stream"), so a
revoked or expired grant ends the stream; it carries the granted items only, skips the rows outside the
grant's row filter, is audited as a read (subject keys) and gets a sealed receipt."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from gongshu.catalog.data_view import data_resource
from gongshu.kernel.access.service import DataDecision, enforce_data
from gongshu.kernel.identity.actor import Actor
from gongshu.sharing.reads import audit_read
from gongshu.sharing.receipts import issue_receipt
from gongshu.store import service as store
from gongshu.store.loader import LOAD_OP

METHOD = "stream"
DEFAULT_LIMIT = 500


class Change(Protocol):
    """What a change event needs: a record-history row (or the same fields from a published message)."""

    id: int
    op: str
    record_key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: dt.datetime


@dataclass(frozen=True)
class StreamEvent:
    """R19: one change as a consumer sees it — granted items only."""

    id: int
    op: str
    key: str | None
    record: dict[str, Any]
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "op": self.op, "key": self.key, "record": self.record, "at": self.at}


@dataclass
class StreamBatch:
    """One delivery: the decision that allowed it, its events, and the feed position after it (which moves
    past events skipped by the row filter, so that a filtered stretch is not read again)."""

    decision: DataDecision
    events: list[StreamEvent]
    cursor: int
    receipt: dict[str, Any] | None = None
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)


def _in_rows(values: Mapping[str, Any], row_filter: Mapping[str, Sequence[object]]) -> bool:
    """R17: a grant's row filter {item: [allowed values]} — every named item must hold an allowed value."""
    return all(str(values.get(i)) in {str(v) for v in allowed} for i, allowed in row_filter.items())


def project(change: Change, decision: DataDecision, key_item: str) -> StreamEvent | None:
    """R17, R26: the event of `change` for the grant behind `decision` — the record projected on the granted
    items (the values after an insert or update; nothing but the key for a delete), or None when the record
    lies outside the grant's rows. The key is shown only when the key item is itself granted. A first full
    load is one `load` event with no record: the consumer takes the rows whole, by the row API or a file."""
    at = change.at.isoformat() if isinstance(change.at, dt.datetime) else str(change.at)
    if change.op == LOAD_OP:  # a first full load: one event for the batch, no record in it
        return StreamEvent(int(change.id), change.op, None, {}, at)
    values = (change.before if change.op == "delete" else change.after) or {}
    if decision.row_filter and not _in_rows(values, decision.row_filter):
        return None
    key_granted = key_item in decision.items
    record: dict[str, Any]
    if change.op == "delete":
        record = {key_item: change.record_key} if key_granted else {}
    else:
        record = {i: values.get(i) for i in decision.items}
    return StreamEvent(int(change.id), change.op, change.record_key if key_granted else None, record, at)


def decide_stream(
    session: Session, actor: Actor, code: str, scenario: str | None, *, path: str = ""
) -> DataDecision:
    """R19, R26: may `actor` follow `code`'s stream for `scenario`? Refused → AccessDenied (deny by default;
    the caller audits the refusal with `record_denial`)."""
    resource = data_resource(session, code)
    return enforce_data(session, actor, resource, scenario=scenario, method=METHOD, path=path)


def read_batch(
    session: Session,
    actor: Actor,
    code: str,
    scenario: str | None,
    after_id: int,
    limit: int = DEFAULT_LIMIT,
    *,
    path: str = "",
) -> StreamBatch:
    """R19: decide, then read the change events after `after_id`, projected for the grant."""
    decision = decide_stream(session, actor, code, scenario, path=path)
    key_item = store.get_resource(session, code).key_item
    changes = store.changes_since(session, code, after_id, limit)
    events = [e for e in (project(c, decision, key_item) for c in changes) if e is not None]
    cursor = int(changes[-1].id) if changes else after_id
    return StreamBatch(decision, events, cursor)


def events_for(
    session: Session,
    actor: Actor,
    code: str,
    scenario: str | None,
    after_id: int = 0,
    limit: int = DEFAULT_LIMIT,
) -> tuple[DataDecision, list[StreamEvent]]:
    """R19, R26: the access decision (method "stream"; refused → AccessDenied) and the projected events."""
    batch = read_batch(session, actor, code, scenario, after_id, limit)
    return batch.decision, batch.events


def batch_body(events: Sequence[StreamEvent]) -> bytes:
    """The canonical bytes of a batch (what its receipt's response digest covers): the JSON array of the
    events' `data` objects, keys sorted, no spaces, UTF-8."""
    return json.dumps(
        [e.to_dict() for e in events], ensure_ascii=False, sort_keys=True, separators=(",", ":")
    ).encode()


def deliver_batch(
    session: Session,
    actor: Actor,
    code: str,
    scenario: str | None,
    after_id: int,
    limit: int = DEFAULT_LIMIT,
    *,
    path: str = "",
    channel: str = "sse",
) -> StreamBatch:
    """R19, R26: one stream delivery — decided, projected, audited (subject keys) in the caller's
    transaction, with a sealed receipt. A batch with no event is neither audited nor receipted."""
    batch = read_batch(session, actor, code, scenario, after_id, limit, path=path)
    if not batch.events:
        return batch
    first, last = batch.events[0].id, batch.events[-1].id
    entry = audit_read(
        session,
        actor,
        code,
        batch.decision,
        [e.record for e in batch.events],
        method=METHOD,
        path=path,
        detail={"channel": channel, "first_event_id": first, "last_event_id": last},
    )
    batch.body = batch_body(batch.events)
    request = json.dumps(
        {"resource": code, "scenario": scenario, "after": after_id, "channel": channel},
        ensure_ascii=False,
        sort_keys=True,
    )
    batch.receipt = issue_receipt(
        actor,
        resource_code=code,
        method=METHOD,
        request=request,
        response=batch.body,
        grant_id=batch.decision.grant_id,
        scenario=batch.decision.scenario,
        basis=batch.decision.basis,
        records=len(batch.events),
        audit_seq=getattr(entry, "seq", None),
    )
    return batch
