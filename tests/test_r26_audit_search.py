"""R26–R28: the audit log is searched by what auditors know — a case number, a user's name, an object id
read with its type — from lists of the actions and object types present; its entries link to the pages
of what they concern and read as labels (kinds, states, steps, decisions, ways, bases, organisations),
with the recorded JSON kept whole; its export names the instants in China time beside UTC."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
from typing import Any

import pytest
from catalog_fixtures import marriage
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy.orm import Session

from gongshu.catalog.service import create_draft
from gongshu.kernel import timeutil
from gongshu.kernel.audit.service import record
from gongshu.kernel.audit.verify import verify_jsonl
from gongshu.kernel.identity.service import build_actor, create_organisation, create_user
from gongshu.kernel.workflow.models import Case
from gongshu.web.pages import shell

PASSWORD = "Passw0rd-123"


@pytest.fixture()
def log(session: Session) -> dict[str, Any]:
    """Two organisations, an officer whose display name carries a title (主管部门审核员 陈静), a case
    whose id is also a user's id, and entries about both."""
    ids: dict[str, Any] = {}
    for code, name_zh, name_en, kind in [
        ("auth", "市大数据局", "Big Data Authority", "authority"),
        ("civil", "市民政局", "Civil Affairs Bureau", "department"),
        ("police", "市公安局", "", "department"),
    ]:
        ids[code] = create_organisation(session, code=code, name_zh=name_zh, name_en=name_en, kind=kind).id
    reviewer = create_user(
        session,
        username="auth.reviewer",
        display_name="主管部门审核员 陈静",
        password=PASSWORD,
        org_code="auth",
        roles=["reviewer"],
    )
    officer = create_user(
        session,
        username="civil.officer",
        display_name="民政局编目员 陈静怡",
        password=PASSWORD,
        org_code="civil",
        roles=["catalog_officer"],
    )
    for username, org in (("auth.auditor", "auth"), ("civil.auditor", "civil")):
        create_user(
            session,
            username=username,
            display_name=username,
            password=PASSWORD,
            org_code=org,
            roles=["auditor"],
        )
    session.flush()
    submitter, decider = build_actor(session, officer), build_actor(session, reviewer)
    code = create_draft(session, submitter, marriage()).resource_code  # audited: catalog.create_draft
    case = Case(
        id=officer.id,  # the case and a user share an internal id: the object filter must tell them apart
        number="ML-2026-000777",
        kind="catalog_publication",
        policy_version_id="xiamen-2023",
        status="approved",
        title="目录发布：婚姻登记信息",
        applicant_org_id=ids["civil"],
        subject_type="catalog_entry",
        subject_id=code,
    )
    session.add(case)
    session.flush()
    ids["case"], ids["officer"], ids["reviewer"], ids["code"] = case.id, officer.id, reviewer.id, code
    record(
        session,
        submitter,
        "workflow.submit",
        object_type="case",
        object_id=case.id,
        detail={
            "number": case.number,
            "kind": "catalog_publication",
            "status": "in_review",
            "title": case.title,
            "parties": {"provider": ids["civil"]},
        },
    )
    record(
        session,
        decider,
        "workflow.decide",
        object_type="case",
        object_id=case.id,
        detail={
            "number": case.number,
            "kind": "catalog_publication",
            "status": "approved",
            "step": "authority_review",
            "decision": "approve",
            "reasons": "",
        },
    )
    record(
        session,
        decider,
        "catalog.publish",
        object_type="catalog_entry",
        object_id=code,
        detail={"version": 1, "case": case.number},
    )
    record(
        session,
        None,
        "user.create",
        object_type="user",
        object_id=officer.id,
        detail={"username": "civil.officer", "org": "civil", "roles": ["civil:catalog_officer"]},
    )
    record(
        session,
        submitter,
        "data.read",
        object_type="resource",
        object_id=code,
        detail={"via": "my_data", "basis": "data_subject", "rows": 1, "consumer_org_id": ids["police"]},
    )
    session.commit()
    shell.forget_policy_state()
    return ids


def _client(session: Session, username: str, lang: str | None = None) -> TestClient:
    client, _ = page_client(username, lang, session=session)
    return client


def _seqs(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', page)]


def _rows(page: str) -> str:
    return page[page.index('data-testid="audit-entries"') : page.index("</table>")]


def test_r28_a_case_number_finds_the_case_and_not_the_user_of_the_same_id(
    session: Session, log: dict[str, Any]
) -> None:
    client = _client(session, "auth.auditor")
    page = client.get("/audit?object_id=ML-2026-000777").text
    assert "共 2 条记录" in page  # submitted and decided; not user.create of user {id}
    rows = _rows(page)
    assert rows.count('data-object-type="case"') == 2 and 'data-object-type="user"' not in rows
    notes = page[page.index('data-testid="search-notes"') :]
    assert f"案件编号 ML-2026-000777 在审计日志中记为案件 {log['case']}。" in notes
    # the case's subject, one link away
    assert f"object_type=catalog_entry&amp;object_id={log['code']}" in notes
    # lower case, as typed in a hurry, and with the type chosen
    assert "共 2 条记录" in client.get("/audit?object_type=case&object_id=ml-2026-000777").text

    unknown = client.get("/audit?object_id=ML-2026-009999&actor=auth.reviewer")
    assert unknown.status_code == 422
    assert "没有编号为 ML-2026-009999 的案件" in unknown.text
    assert 'value="ML-2026-009999"' in unknown.text and 'value="auth.reviewer"' in unknown.text  # kept


def test_r28_a_bare_id_of_several_object_types_asks_which(session: Session, log: dict[str, Any]) -> None:
    client = _client(session, "auth.auditor")
    oid = log["case"]
    page = client.get(f"/audit?object_id={oid}").text
    assert 'data-testid="search-choices"' in page and 'data-testid="audit-entries"' not in page
    choices = page[page.index('data-testid="search-choices"') :]
    assert f"对象编号 {oid} 对应多种对象，请选择对象类型" in choices
    assert "案件 ML-2026-000777（2 条记录）" in choices and "用户 civil.officer（2 条记录）" in choices
    assert "机构 市民政局（1 条记录）" in choices  # organisation 2 was created (and audited) too
    assert f'href="/audit?object_type=user&amp;object_id={oid}"' in choices

    users_only = client.get(f"/audit?object_type=user&object_id={oid}").text
    assert "共 2 条记录" in users_only and 'data-object-type="case"' not in _rows(users_only)
    # a user object by the username, too
    assert "共 2 条记录" in client.get("/audit?object_type=user&object_id=civil.officer").text
    # a code that names a catalog entry and a resource asks too
    code = log["code"]
    both = client.get(f"/audit?object_id={code}").text
    assert f"目录 {code}（2 条记录）" in both and f"资源 {code}（1 条记录）" in both
    # the export refuses an ambiguous search rather than mixing the types
    refused = client.get(f"/audit/export?format=csv&object_id={oid}")
    assert refused.status_code == 422 and "检索条件有多种理解" in refused.text


def test_r28_a_user_is_found_by_display_name_or_username(session: Session, log: dict[str, Any]) -> None:
    client = _client(session, "auth.auditor")
    by_name = client.get("/audit?actor=主管部门审核员 陈静").text
    assert "共 2 条记录" in by_name and "“主管部门审核员 陈静”即用户 auth.reviewer。" in by_name
    assert "共 2 条记录" in client.get("/audit?actor=auth.reviewer").text
    # part of a display name, when it names one user only
    assert "共 3 条记录" in client.get("/audit?actor=民政局编目员").text
    # a name that several users hold asks which one
    several = client.get("/audit?actor=陈静").text
    assert "有多个用户名为“陈静”，请选择" in several
    assert 'href="/audit?actor=auth.reviewer"' in several and 'href="/audit?actor=civil.officer"' in several
    # rows show the name beside the username
    assert "主管部门审核员 陈静<br><code" in by_name

    # R27: a department's auditor resolves only its own organisation's staff
    dept = _client(session, "civil.auditor").get("/audit?actor=陈静").text
    assert "“陈静”即用户 civil.officer。" in dept and "auth.reviewer" not in dept


def test_r28_actions_and_object_types_are_chosen_from_lists(session: Session, log: dict[str, Any]) -> None:
    client = _client(session, "auth.auditor")
    page = client.get("/audit").text
    actions = page[
        page.index('data-testid="action-select"') : page.index("</select>", page.index("action-select"))
    ]
    assert '<option value="workflow.decide">办理环节决定</option>' in actions
    assert '<option value="workflow.">全部案件办理操作（workflow.*）</option>' in actions
    assert '<option value="data.read">读取数据</option>' in actions
    assert 'value="auth.login"' not in actions  # only the actions present
    types = page[page.index('data-testid="object-type-select"') :]
    types = types[: types.index("</select>")]
    assert '<option value="case">案件</option>' in types and '<option value="resource">资源</option>' in types
    assert 'value="grant"' not in types
    chosen = client.get("/audit?action=workflow.&object_type=case").text
    assert "共 2 条记录" in chosen
    assert '<option value="workflow." selected>' in chosen and '<option value="case" selected>' in chosen
    # a prefix typed in the address stays chosen
    assert (
        '<option value="catalog.pub" selected>以 catalog.pub 开头的操作</option>'
        in client.get("/audit?action=catalog.pub").text
    )

    english = _client(session, "auth.auditor", "en").get("/audit").text
    assert '<option value="workflow.">Case handling: every action (workflow.*)</option>' in english


def test_r28_entries_link_to_the_pages_of_what_they_concern(session: Session, log: dict[str, Any]) -> None:
    page = _rows(_client(session, "auth.auditor").get("/audit").text)
    assert f'<a href="/cases/{log["case"]}" data-testid="object-link">' in page
    code = log["code"]
    assert (
        page.count(f'<a href="/catalog/{code}" data-testid="object-link">') == 3
    )  # drafted, published, read (no /data/CODE page yet)
    assert f'<code title="{log["case"]}">ML-2026-000777</code>' in page  # the case by its number
    assert f'<a href="/cases/{log["case"]}">ML-2026-000777</a>' in page  # the case number in a detail


def test_r26_entry_details_read_as_labels_and_names(session: Session, log: dict[str, Any]) -> None:
    client = _client(session, "auth.auditor")
    page = _rows(client.get("/audit").text)
    assert '<dt data-key="kind">类型</dt><dd title="catalog_publication">目录发布</dd>' in page
    assert '<dt data-key="status">状态</dt><dd title="approved">已通过</dd>' in page
    assert '<dt data-key="step">环节</dt><dd title="authority_review">主管部门审核</dd>' in page
    assert '<dt data-key="decision">决定</dt><dd title="approve">通过</dd>' in page
    assert '<dt data-key="via">途径</dt><dd title="my_data">“我的数据”页面（数据主体本人）</dd>' in page
    assert '<dt data-key="basis">依据</dt><dd title="data_subject">数据主体本人的记录</dd>' in page
    assert '<dd title="{&#34;provider&#34;:' in page and "提供单位：市民政局</dd>" in page
    assert ">市民政局·目录编制人员</dd>" in page
    assert '<dt data-key="org">所属机构</dt><dd title="civil">市民政局</dd>' in page
    assert ">市公安局</dd>" in page  # consumer_org_id, by name
    # the recorded JSON stays whole, for the auditor
    assert '"decision":"approve","kind":"catalog_publication"' in html.unescape(page)
    assert "原始记录（JSON）" in page

    en = _rows(_client(session, "auth.auditor", "en").get("/audit").text)
    assert '<dd title="catalog_publication">Catalog publication</dd>' in en
    assert '<dd title="authority_review">Authority review</dd>' in en
    assert '<dd title="approved">Approved</dd>' in en
    assert "Provider: Civil Affairs Bureau</dd>" in en
    assert '<dd title="civil">Civil Affairs Bureau</dd>' in en
    assert ">police</dd>" in en  # no English name: the code as recorded, not the Chinese name


def test_r28_export_names_times_in_china_time_beside_utc(session: Session, log: dict[str, Any]) -> None:
    timeutil.freeze(dt.datetime(2026, 11, 29, 21, 57, 3, tzinfo=dt.UTC))  # 2026-11-30 05:57:03 in China
    client = _client(session, "auth.auditor")
    exported = client.get("/audit/export?format=csv&object_id=ML-2026-000777")
    assert exported.status_code == 200
    assert 'filename="gongshu-audit-20261130-055703.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 2 and list(rows[0])[1:3] == ["at", "at_china"]
    for row in rows:
        at = timeutil.as_utc(dt.datetime.fromisoformat(row["at"]))
        china = dt.datetime.fromisoformat(row["at_china"])
        assert china.utcoffset() == dt.timedelta(hours=8) and china == at

    whole = client.get("/audit/export?format=jsonl")
    assert 'filename="gongshu-audit-20261130-055703.jsonl"' in whole.headers["content-disposition"]
    lines = whole.text.splitlines()
    first = json.loads(lines[0])
    assert list(first)[1:3] == ["at", "at_china"] and first["at_china"].endswith("+08:00")
    assert verify_jsonl(lines).ok  # the UTC instants the chain hashes are kept as recorded
