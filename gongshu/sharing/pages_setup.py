"""R19: the delivery set-up page of a consumer's data officer — for each active grant of the organisations
the actor acts for, how to receive the data by the grant's method: service interface (a token, then
copy-paste curl and Python httpx calls of the row API with the grant's scenario and items), database
table (its registration and sync status), file exchange (the schedule and the latest package) or data
stream (the SSE URL, resumed with Last-Event-ID, and the NATS subject when the backend is NATS). Thin:
what a grant allows is decided by the services whenever data is delivered."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gongshu.kernel.config import get_settings
from gongshu.kernel.db import read_scope
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import as_utc
from gongshu.sharing import db_table, files, grants_service
from gongshu.sharing.delivery_models import DbTarget, FileSchedule, Package
from gongshu.web.deps import require_actor
from gongshu.web.pages.cases import china_time
from gongshu.web.render import render

router = APIRouter(prefix="/sharing/setup", include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
TOKEN_VAR = "GONGSHU_TOKEN"
NATS_PREFIX = "gongshu.grants"
EXAMPLE_LIMIT = 100


@dataclass
class SetupCard:
    """One active grant and what its consumer does to receive the data."""

    grant_id: int
    method: str
    resource_code: str
    resource_name: str
    consumer_name: str
    scenario: str
    items: list[str]
    valid_to: Any
    examples: dict[str, str] = field(default_factory=dict)
    target: DbTarget | None = None
    schedule: FileSchedule | None = None
    package: Package | None = None
    nats_subject: str = ""


def rows_url(base: str, code: str) -> str:
    return f"{base}/api/v1/data/{quote(code)}/rows"


def stream_url(base: str, code: str, scenario: str) -> str:
    return f"{base}/api/v1/data/{quote(code)}/stream?{urlencode({'scenario': scenario})}"


def curl_rows(base: str, code: str, scenario: str, items: list[str]) -> str:
    """R19: the row API called with curl (the token from the environment, never written out)."""
    lines = [
        f"curl -G {shlex.quote(rows_url(base, code))}",
        f'  -H "Authorization: Bearer ${TOKEN_VAR}"',
        f"  --data-urlencode {shlex.quote('scenario=' + scenario)}",
        f"  --data-urlencode {shlex.quote('items=' + ','.join(items))}",
        f"  --data-urlencode limit={EXAMPLE_LIMIT}",
    ]
    return " \\\n".join(lines)


def python_rows(base: str, code: str, scenario: str, items: list[str]) -> str:
    """R19: the row API called with httpx, following the `next` cursor page by page."""
    params = json.dumps(
        {"scenario": scenario, "items": ",".join(items), "limit": EXAMPLE_LIMIT}, ensure_ascii=False
    )
    return "\n".join(
        [
            "import os",
            "",
            "import httpx",
            "",
            f"url = {json.dumps(rows_url(base, code))}",
            f"params = {params}",
            f'headers = {{"Authorization": f"Bearer {{os.environ[{TOKEN_VAR!r}]}}"}}',
            "while True:",
            "    response = httpx.get(url, params=params, headers=headers, timeout=30)",
            "    response.raise_for_status()",
            "    body = response.json()",
            '    for row in body["rows"]:',
            "        print(row)",
            '    if not body.get("next"):',
            "        break",
            '    params["after"] = body["next"]',
        ]
    )


def curl_stream(base: str, code: str, scenario: str) -> str:
    """R19: follow the stream with curl; Last-Event-ID resumes after the last event received."""
    return " \\\n".join(
        [
            "curl -N",
            f'  -H "Authorization: Bearer ${TOKEN_VAR}"',
            '  -H "Last-Event-ID: 0"',
            f"  {shlex.quote(stream_url(base, code, scenario))}",
        ]
    )


def setup_cards(actor: Actor, base: str) -> list[SetupCard]:
    """R19: the actor's organisations' active grants, each with what its method needs."""
    nats = get_settings().stream_backend == "nats"
    out: list[SetupCard] = []
    with read_scope() as s:
        views = [v for v in grants_service.my_grants(s, actor) if v.state == "active"]
        orgs = sorted({v.grant.consumer_org_id for v in views})
        targets: dict[int, DbTarget] = {}
        latest: dict[int, Package] = {}
        for org in orgs:
            for t in db_table.targets_of(s, org):
                targets.setdefault(t.grant_id, t)
            for p in files.packages_of(s, org):  # newest first
                latest.setdefault(p.grant_id, p)
        schedules = files.schedules_of(s, [v.grant.id for v in views if v.grant.delivery_method == "file"])
        for v in views:
            g = v.grant
            card = SetupCard(
                grant_id=g.id,
                method=g.delivery_method,
                resource_code=g.resource_id,
                resource_name=v.resource_name,
                consumer_name=v.consumer_name,
                scenario=g.scenario,
                items=list(g.items),
                valid_to=g.valid_to,
            )
            if card.method == "api":
                card.examples = {
                    "curl": curl_rows(base, g.resource_id, g.scenario, card.items),
                    "python": python_rows(base, g.resource_id, g.scenario, card.items),
                }
            elif card.method == "stream":
                card.examples = {
                    "url": stream_url(base, g.resource_id, g.scenario),
                    "curl": curl_stream(base, g.resource_id, g.scenario),
                }
                card.nats_subject = f"{NATS_PREFIX}.{g.id}" if nats else ""
            elif card.method == "db_table":
                card.target = targets.get(g.id)
            elif card.method == "file":
                card.schedule, card.package = schedules.get(g.id), latest.get(g.id)
            out.append(card)
        s.expunge_all()
    return out


@router.get("", response_class=HTMLResponse)
def setup_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R19: how to receive the data of each of my active grants."""
    base = str(request.base_url).rstrip("/")
    cards = setup_cards(actor, base)
    return render(
        request,
        "sharing/setup.html",
        cards=cards,
        token_var=TOKEN_VAR,
        nats=get_settings().stream_backend == "nats",
        china_time=_china_time,
    )


def _china_time(at: dt.datetime | None) -> str:
    """China time to the minute (instants read back from SQLite are naive UTC)."""
    return china_time(as_utc(at)) if at is not None else ""
