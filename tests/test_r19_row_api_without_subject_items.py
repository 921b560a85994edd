"""R19 R26: the row API serves a resource keyed by a declared key with no ID-number or USCC item — to the
public when it is openly published, to its provider and to a granted consumer — and audits each read
without subject keys (there are none); the other delivery paths of such a resource audit alike."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope
from gongshu.kernel.identity.tokens import issue_token
from gongshu.kernel.timeutil import now
from gongshu.sharing import files
from gongshu.web.app import create_app

SCENARIO = "市场监管协同"
ITEMS: list[dict[str, Any]] = [
    {"name": "licence_no", "label_zh": "许可证编号", "data_type": "string", "length": 20, "is_key": True},
    {"name": "shop_name", "label_zh": "店铺名称", "data_type": "string", "length": 40},
    {"name": "issued_on", "label_zh": "发证日期", "data_type": "date"},
]
ROWS = [f"JY{n:06d},店铺{n},2024-02-{n + 1:02d}" for n in range(5)]


def _publish(session: Session, c: dict[str, Any], name: str, **terms: Any) -> str:
    return publish(
        session,
        c,
        items=ITEMS,
        name=name,
        subject_kind="other",
        sharing_conditions=[{"kind": "scenario", "value": SCENARIO}],
        sharing_methods=["api", "file"],
        **terms,
    ).resource_code


@pytest.fixture()
def c(session: Session, db_clean: str, tmp_path: Path) -> dict[str, Any]:
    out = store_city(session)
    out["open"] = _publish(
        session,
        out,
        "食品经营许可",
        open_attribute="general",
        open_conditions=[],
        sharing_attribute="unconditional",
    )
    out["closed"] = _publish(
        session,
        out,
        "食品经营许可（内部）",
        open_attribute="not_open",
        open_conditions=[],
        not_open_reason="内部管理",
    )
    text = "licence_no,shop_name,issued_on\n" + "\n".join(ROWS) + "\n"
    for code in (out["open"], out["closed"]):
        report = ingest_file(out["civil_clerk"], code, write(tmp_path, f"{code}.csv", text), url=db_clean)
        assert report["accepted"] == len(ROWS), report
    for code in (out["open"], out["closed"]):
        create_grant(
            session,
            out["reviewer"],
            consumer_org_id=out["police"].id,
            resource_id=code,
            items=["licence_no", "shop_name"],
            scenario=SCENARIO,
            delivery_method="api",
            valid_from=now() - dt.timedelta(days=1),
            valid_to=now() + dt.timedelta(days=30),
        )
    session.commit()
    return out


def _client(session: Session, actor: Any) -> TestClient:
    token, _ = issue_token(session, actor, name="t")
    session.commit()
    return TestClient(create_app(), headers={"Authorization": f"Bearer {token}"})


def _reads(code: str) -> list[tuple[str, list[str], dict[str, Any]]]:
    """The resource's read entries: outcome, subject keys, detail."""
    with read_scope() as s:
        entries = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "data.read", AuditEntry.object_id == code)
            .order_by(AuditEntry.seq)
        )
        return [(e.outcome, list(e.subject_keys or []), dict(e.detail)) for e in entries]


def test_r19_row_api_serves_a_resource_without_subject_items(session: Session, c: dict[str, Any]) -> None:
    anonymous = TestClient(create_app())
    provider = _client(session, c["civil_clerk"])
    consumer = _client(session, c["police_clerk"])
    calls = [
        (anonymous, c["open"], "limit=3", "open_general", 3),
        (provider, c["closed"], "limit=10", "provider", len(ROWS)),
        (consumer, c["closed"], f"scenario={SCENARIO}&format=csv", "grant", len(ROWS)),
        (consumer, c["open"], f"scenario={SCENARIO}&sort=-licence_no", None, len(ROWS)),
    ]
    for client, code, query, basis, count in calls:
        resp = client.get(f"/api/v1/data/{code}/rows?{query}")
        assert resp.status_code == 200, (code, query, resp.text)
        if basis is not None:
            assert resp.headers["X-Gongshu-Basis"] == basis
        if "format=csv" in query:
            assert resp.text.splitlines()[1:] == [",".join(r.split(",")[:2]) for r in ROWS]
        else:
            assert len(resp.json()["rows"]) == count
    entries = _reads(c["open"]) + _reads(c["closed"])
    assert len(entries) == len(calls)
    assert all(outcome == "ok" and keys == [] for outcome, keys, _ in entries)
    assert sorted(detail["records"] for *_, detail in entries) == sorted(n for *_, n in calls)


def test_r19_a_file_package_of_a_resource_without_subject_items_is_audited(
    session: Session, c: dict[str, Any], data_dir: Path
) -> None:
    grant = int(
        create_grant(
            session,
            c["reviewer"],
            consumer_org_id=c["police"].id,
            resource_id=c["closed"],
            items=["licence_no", "shop_name"],
            scenario=SCENARIO,
            delivery_method="file",
            valid_from=now() - dt.timedelta(days=1),
            valid_to=now() + dt.timedelta(days=30),
        ).id
    )
    session.commit()
    package = files.generate_package(c["police_clerk"], grant)
    assert package.records == len(ROWS)
    [(outcome, keys, detail)] = [e for e in _reads(c["closed"]) if e[2].get("method") == "file"]
    assert outcome == "ok" and keys == [] and detail["records"] == len(ROWS)
