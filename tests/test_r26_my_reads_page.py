"""R26 data tracker, after the tester's walk as 张三: "谁读取了我的数据" named an organisation "system", a
resource "29" (an internal id) and no scenario. A person now sees, for each read of their records by
another organisation: the organisation's name, the resource's catalog name (linked to its catalog page when
they may open it), the scenario of the application — or, when the read had none of its own, the way and the
basis of the read in words — in China time; the platform's own jobs as 平台（系统作业）; and no entry that is
not a read (the account's organisation being created named the person too, but read nothing)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import user
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation import basedata
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.access.grants import create_grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.kernel.identity.organisations import create_organisation
from gongshu.kernel.identity.tokens import issue_token
from gongshu.kernel.timeutil import now
from gongshu.quality import objections
from gongshu.web.app import create_app
from gongshu.web.pages.cases import china_time

SCENARIO = "婚育服务一件事"


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    """张三's account registered as the platform registers a person (its organisation created with his ID
    number, which the audit records), civil affairs' marriage records about him and two others, and a grant
    to the public security bureau for one scenario through the sharing API."""
    out = store_city(session)
    person = create_organisation(
        session, code="person.zhang", name_zh="张三", kind="person", id_number=IDS[0]
    )
    out["zhang"] = user(session, "zhang", person, "public")
    session.commit()
    out["code"] = publish(session, out).resource_code
    text = HEADER + "\n" + "\n".join(f"{i},张{n},2024-01-0{n + 1},1,10.5,true" for n, i in enumerate(IDS[:3]))
    ingest_file(out["civil_clerk"], out["code"], write(tmp_path, "m.csv", text + "\n"), url=db_clean)
    create_grant(
        session,
        out["reviewer"],
        consumer_org_id=out["police"].id,
        resource_id=out["code"],
        items=["id_number", "full_name"],
        scenario=SCENARIO,
        delivery_method="api",
        valid_from=now() - dt.timedelta(days=1),
        valid_to=now() + dt.timedelta(days=30),
    )
    token, _ = issue_token(session, out["police_clerk"], name="api")
    session.commit()
    out["police_api"] = TestClient(create_app(), headers={"Authorization": f"Bearer {token}"})
    return out


def _shared_read(c: dict[str, Any], key: str) -> None:
    """The police bureau reads one record through the sharing API under its grant (R19 R26)."""
    got = c["police_api"].get(f"/api/v1/data/{c['code']}/rows?scenario={SCENARIO}&filter[id_number]={key}")
    assert got.status_code == 200 and [r["id_number"] for r in got.json()["rows"]] == [key], got.text


def _rows(page: str) -> list[str]:
    table = page[page.index('data-testid="my-reads"') :]
    return re.findall(r'<tr data-testid="my-read">(.*?)</tr>', table[: table.index("</table>")], re.S)


def test_r26_my_reads_names_the_organisation_the_resource_and_the_scenario_of_a_shared_read(
    c: dict[str, Any],
) -> None:
    _shared_read(c, IDS[0])
    _shared_read(c, IDS[1])  # another person's record: not 张三's read
    with read_scope() as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.read").order_by(AuditEntry.seq))
        read_at = china_time(list(reads)[-2].at)
        created = s.scalars(select(AuditEntry).where(AuditEntry.action == "org.create")).one()
        created_org, created_id = created.actor_org_id, created.object_id
    assert created_org is None  # the entry that showed as "system" / its organisation's id

    page = page_client("zhang")[0].get("/my/reads").text
    rows = _rows(page)
    assert len(rows) == 1, rows  # the sharing read only: not the account's creation, not his own looks
    row = rows[0]
    assert 'data-testid="read-org">市公安局<' in row
    assert f'<a href="/catalog/{c["code"]}">婚姻登记信息</a>' in row
    assert f'data-testid="read-scenario">{SCENARIO}<' in row
    assert 'data-testid="read-way">共享接口调用（依共享授权）<' in row
    assert read_at in row and "北京时间" in page
    assert "system" not in page and f">{created_id}<" not in page and "<code>" not in row

    english = page_client("zhang", "en")[0].get("/my/reads").text
    (row,) = _rows(english)
    assert 'data-testid="read-org">Public Security Bureau<' in row and ">Marriage registration</a>" in row
    assert 'data-testid="read-way">Sharing API call (under a sharing grant)<' in row


def test_r26_base_look_up_and_objection_handling_are_told_in_words(c: dict[str, Any]) -> None:
    """The authority's base look-up and the provider's reading while handling 张三's objection had no
    application scenario of their own: the way of the read says what happened, the objection's case linked."""
    with session_scope() as s:
        basedata.look_up(s, c["reviewer"], "person", IDS[0])
    with session_scope() as s:
        case = objections.file_objection(s, c["zhang"], c["code"], field="full_name", claimed_value="章零")
        case_id, number = case.id, case.number
    assert page_client("civil_clerk")[0].get(f"/data/objections/{case_id}").status_code == 200

    rows = _rows(page_client("zhang")[0].get("/my/reads").text)
    assert len(rows) == 2, rows
    handling, look_up = rows  # newest first
    assert 'data-testid="read-org">市民政局<' in handling and 'data-testid="read-way">异议处理<' in handling
    assert f'<a href="/cases/{case_id}">{number}</a>' in handling
    assert "R14" not in handling and "read-scenario" not in handling
    assert (
        'data-testid="read-org">市大数据管理局<' in look_up
        and 'data-testid="read-way">基础库查询<' in look_up
    )
    assert ">婚姻登记信息</a>" in look_up and "R11" not in look_up
    english = _rows(page_client("zhang", "en")[0].get("/my/reads").text)
    assert 'data-testid="read-way">Handling an objection<' in english[0]
    assert 'data-testid="read-way">Base data look-up<' in english[1]


def test_r26_a_platform_job_is_named_as_the_platform_and_an_unknown_resource_by_its_code(
    c: dict[str, Any],
) -> None:
    with session_scope() as s:
        record(
            s,
            SYSTEM,
            "data.read",
            object_type="resource",
            object_id="GONE-RESOURCE-0001",
            subject_keys=[IDS[0]],
            detail={"method": "file"},
        )
    (row,) = _rows(page_client("zhang")[0].get("/my/reads").text)
    assert 'data-testid="read-org">平台（系统作业）<' in row and 'data-testid="read-way">文件交付<' in row
    assert 'data-testid="read-resource">GONE-RESOURCE-0001<' in row  # no catalog entry: its code, no link
    (row,) = _rows(page_client("zhang", "en")[0].get("/my/reads").text)
    assert 'data-testid="read-org">The platform (system job)<' in row
