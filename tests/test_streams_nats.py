"""R19 (data streams over NATS JetStream), R17, R26: against the real NATS server on 127.0.0.1:4222, with
stream and subject names unique to the run (deleted afterwards)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_streams_sse import GRANTED, IDS, load, reads, row, stream_city

from gongshu.kernel.access.grants import revoke_grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden
from gongshu.sharing import nats_bridge
from gongshu.sharing.nats_bridge import NatsNames
from gongshu.sharing.receipts import verify_receipt
from gongshu.sharing.streams import StreamEvent, batch_body

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture()
def names() -> Iterator[NatsNames]:
    tag = uuid.uuid4().hex[:10]
    out = NatsNames(
        changes_stream=f"T{tag}_CHANGES",
        changes_prefix=f"t{tag}.changes",
        grants_stream=f"T{tag}_GRANTS",
        grants_prefix=f"t{tag}.grants",
        state_file=f"nats_state_{tag}.json",
    )
    yield out

    async def drop() -> None:
        nc, js = await nats_bridge.connect(NATS_URL)
        for stream in (out.changes_stream, out.grants_stream):
            with contextlib.suppress(NotFoundError):  # a stream the test never created
                await js.delete_stream(stream)
        await nc.close()

    asyncio.run(drop())


async def _fetch(sub: Any, n: int, timeout: float = 5) -> list[tuple[str, dict[str, Any]]]:
    """Fetch (and acknowledge) `n` messages from a pull subscription."""
    out: list[tuple[str, dict[str, Any]]] = []
    while len(out) < n:
        for msg in await sub.fetch(n - len(out), timeout=timeout):
            out.append(nats_bridge.decode(msg))
            await msg.ack()
    return out


async def _nothing_more(sub: Any) -> bool:
    try:
        await sub.fetch(1, timeout=0.5)
    except TimeoutError:
        return True
    return False


def test_r19_publisher_puts_each_change_once_on_the_resource_subject(
    db_clean: str, session: Session, tmp_path: Path, names: NatsNames
) -> None:
    c = stream_city(session)
    load(c, tmp_path, db_clean, [row(0, "甲"), row(1, "乙")], "a.csv")

    async def run() -> tuple[int, int, list[dict[str, Any]], bool]:
        nc, js = await nats_bridge.connect(NATS_URL)
        try:
            await nats_bridge.ensure_streams(js, names)
            first = await nats_bridge.publish_changes(js, names, url=db_clean)
            again = await nats_bridge.publish_changes(js, names, url=db_clean)  # state: nothing new
            sub = await js.pull_subscribe(names.change_subject(c["code"]), stream=names.changes_stream)
            msgs = await sub.fetch(2, timeout=5)
            # JetStream drops a re-published event id (Nats-Msg-Id) inside the duplicate window.
            dup = await js.publish(
                names.change_subject(c["code"]),
                msgs[0].data,
                headers={"Nats-Msg-Id": msgs[0].header["Nats-Msg-Id"]},
            )
            return first, again, [json.loads(m.data) for m in msgs], dup.duplicate
        finally:
            await nc.close()

    first, again, data, duplicate = asyncio.run(run())
    assert (first, again) == (2, 0) and duplicate
    assert [d["key"] for d in data] == IDS[:2] and data[0]["after"]["full_name"] == "甲"


def test_r19_grant_subject_carries_granted_items_and_resumes_without_gap(
    db_clean: str, session: Session, tmp_path: Path, names: NatsNames
) -> None:
    c = stream_city(session)
    actor, gid = c["police_clerk"], c["grant_id"]

    async def run() -> None:
        nc, js = await nats_bridge.connect(NATS_URL)
        await nats_bridge.ensure_streams(js, names)
        sub = await nats_bridge.subscribe_grant(js, gid, "police-app", names)
        load(c, tmp_path, db_clean, [row(0, "甲"), row(1, "乙")], "a.csv")
        result = await nats_bridge.deliver_to_nats(actor, gid, js=js, names=names, url=db_clean)
        assert result.delivered == 2 and result.ended is None
        got = await _fetch(sub, 3)
        changes = [d for k, d in got if k == "change"]
        assert [set(d["record"]) for d in changes] == [set(GRANTED)] * 2  # R17: granted items only
        receipt = next(d for k, d in got if k == "receipt")
        assert verify_receipt(receipt, batch_body([StreamEvent(**d) for d in changes])).valid
        await nc.close()  # the consumer goes away; more changes are delivered meanwhile
        load(c, tmp_path, db_clean, [row(2, "丙"), row(3, "丁")], "b.csv")
        nc2, js2 = await nats_bridge.connect(NATS_URL)
        assert (
            await nats_bridge.deliver_to_nats(actor, gid, js=js2, names=names, url=db_clean)
        ).delivered == 2
        assert (
            await nats_bridge.deliver_to_nats(actor, gid, js=js2, names=names, url=db_clean)
        ).delivered == 0
        sub2 = await nats_bridge.subscribe_grant(js2, gid, "police-app", names)
        more = [d for k, d in await _fetch(sub2, 3) if k == "change"]
        assert await _nothing_more(sub2)
        ids = [d["id"] for d in changes + more]
        assert ids == sorted(set(ids)) and [d["record"]["full_name"] for d in more] == ["丙", "丁"]
        await nc2.close()

    asyncio.run(run())
    allowed = reads(db_clean, c["code"], denied=False)
    assert len(allowed) == 2 and all(a["detail"]["channel"] == "nats" for a in allowed)  # R26


def test_r26_revocation_stops_nats_delivery_with_the_reason(
    db_clean: str, session: Session, tmp_path: Path, names: NatsNames
) -> None:
    c = stream_city(session)
    actor, gid = c["police_clerk"], c["grant_id"]

    async def run() -> None:
        nc, js = await nats_bridge.connect(NATS_URL)
        await nats_bridge.ensure_streams(js, names)
        sub = await nats_bridge.subscribe_grant(js, gid, "police-app", names)
        load(c, tmp_path, db_clean, [row(0, "甲")], "a.csv")
        await nats_bridge.deliver_to_nats(actor, gid, js=js, names=names, url=db_clean)
        await _fetch(sub, 2)
        with session_scope(db_clean) as s:
            revoke_grant(s, c["reviewer"], gid, reason="用途变更", provider_org_id=c["civil"].id)
        load(c, tmp_path, db_clean, [row(1, "乙")], "b.csv")
        result = await nats_bridge.deliver_to_nats(actor, gid, js=js, names=names, url=db_clean)
        assert result.ended == "access.grant_revoked" and result.delivered == 0
        ((kind, data),) = await _fetch(sub, 1)
        assert kind == "end" and data["reason"] == "access.grant_revoked"
        assert await _nothing_more(sub)  # 乙 was never published
        await nc.close()

    asyncio.run(run())
    denied = reads(db_clean, c["code"], denied=True)
    assert len(denied) == 1 and denied[0]["detail"]["reason"] == "access.grant_revoked"


def test_r26_nats_delivery_refuses_another_organisations_grant(
    db_clean: str, session: Session, names: NatsNames
) -> None:
    c = stream_city(session)

    async def run() -> None:
        nc, js = await nats_bridge.connect(NATS_URL)
        try:
            with pytest.raises(Forbidden) as err:
                await nats_bridge.deliver_to_nats(
                    c["citizen"], c["grant_id"], js=js, names=names, url=db_clean
                )
            assert err.value.code == "stream.not_your_stream_grant"
        finally:
            await nc.close()

    asyncio.run(run())


def test_r19_the_scheduled_job_delivers_every_stream_grant_until_it_ends(
    db_clean: str, session: Session, tmp_path: Path, names: NatsNames
) -> None:
    """The `sharing.stream_publish` job's half for consumers: each stream grant's events reach its subject
    without anyone calling the delivery by hand; a revoked grant gets one `end` and is not tried again."""
    c = stream_city(session)
    gid = c["grant_id"]

    async def run() -> tuple[Any, ...]:
        nc, js = await nats_bridge.connect(NATS_URL)
        try:
            await nats_bridge.ensure_streams(js, names)
            sub = await nats_bridge.subscribe_grant(js, gid, "police-job", names)
            load(c, tmp_path, db_clean, [row(0, "甲"), row(1, "乙")], "a.csv")
            first = await nats_bridge.deliver_grants(js, names, url=db_clean)
            got = await _fetch(sub, 3)  # two changes and the batch's receipt
            again = await nats_bridge.deliver_grants(js, names, url=db_clean)
            quiet = await _nothing_more(sub)
            with session_scope(db_clean) as s:
                revoke_grant(s, c["reviewer"], gid, reason="用途变更", provider_org_id=c["civil"].id)
            load(c, tmp_path, db_clean, [row(2, "丙")], "b.csv")
            ended = await nats_bridge.deliver_grants(js, names, url=db_clean)
            end = await _fetch(sub, 1)
            after = await nats_bridge.deliver_grants(js, names, url=db_clean)
            return first, got, again, quiet, ended, end, after
        finally:
            await nc.close()

    first, got, again, quiet, ended, end, after = asyncio.run(run())
    assert first[gid].delivered == 2 and [k for k, _ in got] == ["change", "change", "receipt"]
    assert set(got[0][1]["record"]) == set(GRANTED) and got[0][1]["record"]["full_name"] == "甲"
    assert verify_receipt(got[2][1]).valid
    assert again[gid].delivered == 0 and quiet
    assert ended[gid].ended and end[0][0] == "end" and "丙" not in json.dumps(end, ensure_ascii=False)
    assert gid not in after  # ended: not tried again
    with read_scope(db_clean) as s:  # the reads were audited as the platform acting for the police
        labels = s.scalars(
            select(AuditEntry.actor_label).where(AuditEntry.action == "data.read", AuditEntry.grant_id == gid)
        ).all()
    assert labels and all(label.startswith("delivery@") for label in labels)
