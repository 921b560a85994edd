"""R19 (method 4): the background job of the NATS stream backend — publish the resources' new changes to
JetStream and deliver every stream grant's events to its subject (only when `stream_backend` is "nats";
the embedded SSE backend reads the feed directly)."""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session

from gongshu.kernel.config import get_settings
from gongshu.kernel.jobs.registry import job


async def _publish_once() -> int:
    from gongshu.sharing import nats_bridge

    nc, js = await nats_bridge.connect()
    try:
        await nats_bridge.ensure_streams(js)
        published = await nats_bridge.publish_changes(js)
        delivered = await nats_bridge.deliver_grants(js)
        return published + sum(d.delivered for d in delivered.values())
    finally:
        await nc.close()


@job("sharing.stream_publish", every_seconds=5)
def stream_publish_job(session: Session) -> None:
    """R19: publish new change events to NATS JetStream, then deliver each stream grant's pending events to
    its subject (stream backend "nats" only)."""
    if get_settings().stream_backend != "nats":
        return
    asyncio.run(_publish_once())
