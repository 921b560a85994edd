"""Administrator pages (R30 policy versions; the working-day calendar of R9/R14/R17/R23) and auditor pages
(R26–R28: search, export and chain verification of the audit log, scoped by organisation)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gongshu.kernel import timeutil
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import record
from gongshu.kernel.clock.models import HolidayNotice
from gongshu.kernel.identity import sessions
from gongshu.kernel.identity.service import build_actor, create_organisation, create_user
from gongshu.kernel.policy.models import PolicyVersion
from gongshu.kernel.policy.service import SHIPPED
from gongshu.web.app import create_app
from gongshu.web.pages import shell

PASSWORD = "Passw0rd-123"


@pytest.fixture()
def orgs(session: Session) -> dict[str, int]:
    ids = {}
    for code, name, kind in [
        ("auth", "市大数据局", "authority"),
        ("op", "市信息中心", "operator"),
        ("d.police", "市公安局", "department"),
        ("d.health", "市卫健委", "department"),
    ]:
        ids[code] = create_organisation(session, code=code, name_zh=name, kind=kind).id
    session.commit()
    return ids


def _client(session: Session, username: str, org_code: str, roles: list[str]) -> tuple[TestClient, str]:
    """A browser logged in as a new user; returns the client and the session's CSRF token."""
    user = create_user(
        session, username=username, display_name=username, password=PASSWORD, org_code=org_code, roles=roles
    )
    raw, web_session = sessions.start_session(
        session, user, ip=None, user_agent="pytest", second_factor_done=True
    )
    session.commit()
    shell.forget_policy_state()
    client = TestClient(create_app())
    client.cookies.set("gs_session", raw)
    return client, web_session.csrf_token


@pytest.fixture()
def admin(session: Session, orgs: dict[str, int]) -> tuple[TestClient, str]:
    return _client(session, "op.admin", "op", ["admin"])


def _versions(session: Session) -> int:
    session.expire_all()
    count = int(session.scalar(select(func.count()).select_from(PolicyVersion)) or 0)
    session.commit()  # end the test's transaction: on SQLite it holds the write lock
    return count


def _entries(session: Session, action: str) -> list[AuditEntry]:
    session.expire_all()
    found = list(
        session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
    )
    session.commit()
    return found


# --- who may enter ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/admin/policy", "/admin/calendar", "/audit", "/audit/verify", "/audit/export"]
)
def test_r5_anonymous_is_sent_to_log_in(db_clean: str, path: str) -> None:
    response = TestClient(create_app()).get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


def test_r5_non_admin_is_refused(session: Session, orgs: dict[str, int]) -> None:
    client, _ = _client(session, "li.wei", "d.police", ["data_officer", "reviewer"])
    for path in ("/admin/policy", "/admin/calendar", "/audit", "/audit/verify"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "当前账号没有执行此操作的角色" in response.text
    assert client.post("/admin/policy", files={"file": ("p.yaml", b"id: x")}).status_code == 403


# --- R30: policy versions -----------------------------------------------------------------------------


def test_r30_policy_page_lists_versions_and_deadlines(
    session: Session, admin: tuple[TestClient, str]
) -> None:
    client, _ = admin
    timeutil.freeze(dt.datetime(2024, 6, 4, 10, 0))
    html = client.get("/admin/policy").text
    assert 'data-version="xiamen-2023"' in html
    assert 'data-testid="state-in-force"' in html
    assert "2023-12-28" in html and "2025-12-27" in html
    assert 'data-testid="policy-deadlines"' in html
    assert "R17" in html and "法定期限" in html  # article and statutory flag of the deadlines

    timeutil.freeze(dt.datetime(2026, 3, 2, 10, 0))
    shell.forget_policy_state()
    html = client.get("/admin/policy?lang=en").text
    assert 'data-testid="state-lapsed"' in html
    assert "Lapsed, carried on" in html


def _successor(**changes: object) -> bytes:
    doc = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    doc.update(
        {
            "id": "xiamen-2026",
            "title_zh": "厦门市公共数据共享开放管理办法（后续）",
            "effective_from": "2025-12-28",
            "effective_to": None,
            **changes,
        }
    )
    return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8")


def test_r30_bad_policy_upload_shows_chinese_error_and_stores_nothing(
    session: Session, admin: tuple[TestClient, str]
) -> None:
    client, csrf = admin
    before, audited = _versions(session), len(_entries(session, "policy.load"))
    bad = _successor()
    doc = yaml.safe_load(bad)
    doc["deadlines"]["sharing_review"]["working_days"] = 0  # below the schema's minimum
    response = client.post(
        "/admin/policy",
        data={"csrf_token": csrf},
        files={"file": ("next.yaml", yaml.safe_dump(doc, allow_unicode=True).encode())},
    )
    assert response.status_code == 422
    assert 'data-testid="form-error"' in response.text
    assert "政策文件字段 deadlines.sharing_review.working_days 有误" in response.text
    assert _versions(session) == before
    assert len(_entries(session, "policy.load")) == audited

    for name, raw, message in [
        ("broken.yaml", b"id: [unclosed", "政策文件无法解析"),
        ("gbk.yaml", "标题: 政策".encode("gbk"), "不是 UTF-8 编码的文本"),
        ("overlap.yaml", _successor(effective_from="2025-01-01"), "生效期与政策版本 xiamen-2023"),
    ]:
        response = client.post("/admin/policy", data={"csrf_token": csrf}, files={"file": (name, raw)})
        assert response.status_code in (400, 422), name
        assert message in response.text, name
    assert _versions(session) == before
    assert len(_entries(session, "policy.load")) == audited


def test_r30_policy_upload_needs_the_csrf_token(session: Session, admin: tuple[TestClient, str]) -> None:
    client, _ = admin
    response = client.post(
        "/admin/policy", data={"csrf_token": "wrong"}, files={"file": ("n.yaml", _successor())}
    )
    assert response.status_code == 403
    assert _versions(session) == 1


def test_r30_successor_policy_upload_is_stored_and_audited(
    session: Session, admin: tuple[TestClient, str]
) -> None:
    client, csrf = admin
    timeutil.freeze(dt.datetime(2026, 3, 2, 10, 0))
    shell.forget_policy_state()
    assert 'data-testid="policy-lapsed"' in client.get("/").text

    response = client.post(
        "/admin/policy",
        data={"csrf_token": csrf},
        files={"file": ("next.yaml", _successor())},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/policy?loaded=xiamen-2026"
    assert _versions(session) == 2
    [entry] = _entries(session, "policy.load")
    assert entry.actor_label == "op.admin" and entry.object_id == "xiamen-2026"

    html = client.get("/admin/policy?loaded=xiamen-2026").text
    assert 'data-testid="policy-loaded"' in html
    assert 'data-testid="state-in-force"' in html
    assert 'data-testid="policy-lapsed"' not in html  # the banner goes once a successor is in force


# --- the working-day calendar -------------------------------------------------------------------------


def test_r17_calendar_calculator_counts_statutory_working_days(admin: tuple[TestClient, str]) -> None:
    client, _ = admin
    html = client.get("/admin/calendar?from=2024-09-30&days=5").text
    # National Day 2024: 1–7 October off, Saturday 12 October an adjusted working day.
    assert 'data-testid="calc-due">2024-10-12<' in html
    assert "临时期限" in html and 'data-testid="calc-provisional">否<' in html

    html = client.get("/admin/calendar?from=2024-09-30&deadline=sharing_review").text
    assert 'data-testid="calc-due">2024-10-12<' in html  # R17: 5 working days, from the policy

    html = client.get("/admin/calendar?from=2031-03-03&days=3").text
    assert 'data-testid="calc-due">2031-03-06<' in html
    assert 'data-testid="calc-provisional"><span class="badge badge-warn">' in html

    html = client.get("/admin/calendar?from=2024-13-01&days=3").text
    assert 'data-testid="calc-error"' in html and "应为 YYYY-MM-DD 格式" in html


NOTICE_2031 = """
year: 2031
title: 2031年部分节假日安排（测试）
holidays:
  - {name: 元旦, from: 2031-01-01, to: 2031-01-01}
  - {name: 春节, from: 2031-01-22, to: 2031-01-28}
workdays:
  - {name: 春节调休, date: 2031-01-19}
"""


def test_calendar_notice_upload_is_loaded_and_audited(
    session: Session, admin: tuple[TestClient, str]
) -> None:
    client, csrf = admin
    response = client.post(
        "/admin/calendar",
        data={"csrf_token": csrf},
        files={"file": ("notice-2031.yaml", NOTICE_2031.encode())},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/calendar?loaded=2031")
    html = client.get(response.headers["location"]).text
    assert 'data-testid="notice-loaded"' in html
    assert "2031年部分节假日安排（测试）" in html
    assert session.get(HolidayNotice, 2031) is not None
    session.commit()
    assert [e.object_id for e in _entries(session, "clock.notice_load")] == ["2031"]
    html = client.get("/admin/calendar?from=2031-01-20&days=2").text
    assert 'data-testid="calc-due">2031-01-29<' in html  # 21 January, then 22–28 off (the loaded notice)
    assert 'data-testid="calc-provisional">否<' in html


def test_calendar_bad_notice_shows_chinese_error_and_stores_nothing(
    session: Session, admin: tuple[TestClient, str]
) -> None:
    client, csrf = admin
    response = client.post(
        "/admin/calendar",
        data={"csrf_token": csrf},
        files={"file": ("notice.yaml", b"year: 2031\nholidays: [not-a-date]\n")},
    )
    assert response.status_code == 422
    assert 'data-testid="form-error"' in response.text
    assert "节假日通知" in response.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(HolidayNotice)) == 0
    assert _entries(session, "clock.notice_load") == []


# --- R26–R28: the audit log ---------------------------------------------------------------------------


def _log(session: Session, orgs: dict[str, int]) -> None:
    police = create_user(
        session,
        username="police.officer",
        display_name="王警官",
        password=PASSWORD,
        org_code="d.police",
        roles=["data_officer"],
    )
    health = create_user(
        session,
        username="health.officer",
        display_name="张医生",
        password=PASSWORD,
        org_code="d.health",
        roles=["data_officer"],
    )
    for user, n in ((police, 3), (health, 2)):
        actor = build_actor(session, user)
        for i in range(n):
            record(
                session, actor, "sharing.read", object_type="resource", object_id=f"r{i}", detail={"rows": i}
            )
    session.commit()


def test_r28_department_auditor_sees_only_own_organisation(session: Session, orgs: dict[str, int]) -> None:
    _log(session, orgs)
    client, _ = _client(session, "police.auditor", "d.police", ["auditor"])
    html = client.get("/audit").text
    assert 'data-testid="scope-note"' in html
    assert "police.officer" in html and "health.officer" not in html
    assert "共 3 条记录" in html

    exported = client.get("/audit/export?format=csv&action=sharing.")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert {r["actor_label"] for r in rows} == {"police.officer"}
    assert len(rows) == 3


def test_r28_authority_auditor_sees_all_and_filters(session: Session, orgs: dict[str, int]) -> None:
    _log(session, orgs)
    client, _ = _client(session, "auth.auditor", "auth", ["auditor"])
    html = client.get("/audit?action=sharing.").text
    assert 'data-testid="scope-note"' not in html
    assert "police.officer" in html and "health.officer" in html
    assert "共 5 条记录" in html
    assert "共 2 条记录" in client.get("/audit?actor=health.officer").text
    assert "共 0 条记录" in client.get("/audit?outcome=denied").text

    bad = client.get("/audit?since=2024-02-30")
    assert bad.status_code == 422 and "应为 YYYY-MM-DD 格式" in bad.text

    exported = client.get("/audit/export?format=jsonl&actor=police.officer")
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [line["object_id"] for line in lines] == ["r0", "r1", "r2"]  # oldest first
    [entry] = _entries(session, "audit.export")
    assert entry.detail["entries"] == 3 and entry.actor_label == "auth.auditor"
    assert client.get("/audit/export?format=xlsx").status_code == 422


def test_r28_audit_search_is_paged(session: Session, orgs: dict[str, int]) -> None:
    _log(session, orgs)
    for i in range(55):
        record(session, None, "catalog.update", object_type="catalog_entry", object_id=i)
    session.commit()
    client, _ = _client(session, "auth.auditor", "auth", ["auditor"])
    first = client.get("/audit?action=catalog.").text
    assert "共 55 条记录" in first and "第 1 页，共 2 页" in first
    assert first.count('<tr data-seq="') == 50
    assert 'href="/audit?action=catalog.&amp;page=2"' in first
    second = client.get("/audit?action=catalog.&page=2").text
    assert "第 2 页，共 2 页" in second
    assert second.count('<tr data-seq="') == 5
    assert 'rel="prev"' in second and 'rel="next"' not in second


def _read_entries(session: Session) -> None:
    """A refused and an allowed data read, with a subject key (R26), by an officer with an ASCII name."""
    officer = create_user(
        session,
        username="police.reader",
        display_name="police.reader",
        password=PASSWORD,
        org_code="d.police",
        roles=["data_officer"],
    )
    actor = build_actor(session, officer)
    record(
        session,
        actor,
        "data.read",
        object_type="resource",
        object_id="R-POP",
        outcome="denied",
        detail={"reason": "access.no_grant", "method": "api", "path": "/api/v1/R-POP/rows", "items": None},
    )
    record(
        session,
        actor,
        "data.read",
        object_type="resource",
        object_id="R-POP",
        scenario="traffic",
        detail={"method": "api", "basis": "grant", "records": 1, "items": ["name", "id_number"]},
        subject_keys=["110101199003074477"],
    )
    session.commit()


def _cell_texts(html: str, tag: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", html, re.S)]


def _table(html: str) -> str:
    return html[html.index('data-testid="audit-entries"') : html.index("</table>")]


def test_r26_audit_page_shows_actions_and_details_as_labels(session: Session, orgs: dict[str, int]) -> None:
    _read_entries(session)
    client, _ = _client(session, "auth.auditor", "auth", ["auditor"])

    zh = _table(client.get("/audit?action=data.").text)
    assert zh.count('<tr data-seq="') == 2
    assert zh.count('<tr data-detail-of="') == 2  # each entry's detail on a full-width row under it
    assert '<span data-testid="action-label">读取数据</span>' in zh
    assert '<code class="small muted">data.read</code>' in zh  # the code stays, for the prefix filter
    assert '<dt data-key="items">信息项</dt><dd>name、id_number</dd>' in zh  # a list, joined
    assert '<dt data-key="records">记录数</dt><dd>1</dd>' in zh
    # a reason code in monospace with its phrase
    assert (
        '<dt data-key="reason">说明</dt><dd><code>access.no_grant</code> 没有有效的共享授权，请先提出共享申请</dd>'
        in zh
    )
    assert zh.count('<dt data-key="items">') == 1  # the refused read recorded no items: left out
    assert '<span class="badge badge-bad">被拒绝</span>' in zh
    assert 'data-object-type="resource">资源</span>' in zh

    client.cookies.set("gs_lang", "en")
    en = _table(client.get("/audit?action=data.").text)
    assert '<span data-testid="action-label">Data read</span>' in en
    assert '<dt data-key="items">Data items</dt><dd>name, id_number</dd>' in en
    assert (
        '<dt data-key="reason">Reason</dt><dd><code>access.no_grant</code> No grant covers this; apply first</dd>'
        in en
    )
    assert '<span class="badge badge-bad">Denied</span>' in en


def test_r26_audit_page_keeps_the_recorded_json_in_details(session: Session, orgs: dict[str, int]) -> None:
    _read_entries(session)
    client, _ = _client(session, "auth.auditor", "auth", ["auditor"])
    page = _table(client.get("/audit?action=data.").text)
    raws = re.findall(
        r'<details data-testid="raw-detail"><summary[^>]*>原始记录（JSON）</summary><pre[^>]*>(.*?)</pre></details>',
        page,
        re.S,
    )
    entries = sorted(_entries(session, "data.read"), key=lambda e: -e.seq)  # the page lists newest first
    assert len(raws) == len(entries) == 2
    for raw, entry in zip(raws, entries, strict=True):
        # the exact recorded detail, whole, as the chain hashes it
        assert json.loads(html.unescape(raw)) == entry.detail
        assert html.unescape(raw) == json.dumps(
            entry.detail, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
    # R26: subject keys stay hashed: never the ID number, nor more than before (no hash is listed)
    full = client.get("/audit").text
    assert "110101199003074477" not in full
    [read] = [e for e in entries if e.subject_keys]
    assert all(h not in full for h in read.subject_keys)

    client.cookies.set("gs_lang", "en")
    assert '<summary class="muted">Recorded JSON</summary>' in client.get("/audit").text


def test_r26_audit_page_unknown_action_and_key_fall_back_to_codes(
    session: Session, orgs: dict[str, int]
) -> None:
    record(
        session,
        None,
        "future.thing",
        object_type="gadget",
        object_id="g1",
        detail={"widget": {"a": [1, 2]}, "reason": "future.code", "flag": True, "pairs": [["x", "eq"]]},
    )
    session.commit()
    client, _ = _client(session, "auth.auditor", "auth", ["auditor"])
    page = _table(client.get("/audit?action=future.").text)
    assert '<td data-action="future.thing"><code>future.thing</code></td>' in page
    assert 'data-object-type="gadget">gadget</span>' in page
    assert '<dt data-key="widget">widget</dt><dd>{&#34;a&#34;:[1,2]}</dd>' in page  # nested, compact
    assert '<dt data-key="reason">说明</dt><dd><code>future.code</code></dd>' in page
    assert '<dt data-key="flag">flag</dt><dd>是</dd>' in page
    assert '<dt data-key="pairs">pairs</dt><dd>[&#34;x&#34;,&#34;eq&#34;]</dd>' in page
    assert "<td>系统</td>" in page  # the platform's own entries


def test_r26_audit_page_labels_are_in_the_page_language(session: Session, orgs: dict[str, int]) -> None:
    _read_entries(session)
    client, _ = _client(session, "auth.auditor", "auth", ["auditor"])
    zh = client.get("/audit").text
    labels = _cell_texts(_table(zh), "th") + _cell_texts(_table(zh), "dt") + _cell_texts(zh, "label")
    labels += _cell_texts(_table(zh), "summary") + _cell_texts(_table(zh), "span")
    labels = [t for t in labels if t not in ("#", "")]
    assert labels and all(re.search(r"[\u4e00-\u9fff]", t) for t in labels), labels

    client.cookies.set("gs_lang", "en")
    en = client.get("/audit").text
    main = en[en.index('<main class="container"') : en.index("</main>")]
    assert not re.findall(r"[\u4e00-\u9fff]+", main)  # data values here are ASCII: no Chinese is left


def test_r26_verify_page_shows_intact_then_first_bad_entry(session: Session, orgs: dict[str, int]) -> None:
    _log(session, orgs)
    client, _ = _client(session, "op.auditor", "op", ["auditor"])
    html = client.get("/audit/verify").text
    assert 'data-testid="verify-ok"' in html and "审计日志完整" in html
    assert 'data-testid="head-anchor"' in html

    target = session.scalars(
        select(AuditEntry).where(AuditEntry.object_id == "r1").order_by(AuditEntry.seq)
    ).first()
    assert target is not None
    seq = target.seq
    session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(detail={"rows": 999}))
    session.commit()
    html = client.get("/audit/verify").text
    assert 'data-testid="verify-broken"' in html
    assert f'data-testid="first-bad">{seq}<' in html
    assert f"第{seq}条记录与其哈希值不符" in html
    checks = _entries(session, "audit.verify")
    assert [c.outcome for c in checks] == ["ok", "error"]

    bad_anchor = client.get("/audit/verify?anchor=nonsense")
    assert bad_anchor.status_code == 422 and "锚点应写作" in bad_anchor.text
