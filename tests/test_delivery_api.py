"""R19 (method 1: service interfaces), R16 R17 R18 R22 R26: the row API through the access decision point,
the safe query engine, audited reads with subject keys and sealed receipts."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import org, user
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.access.grants import create_grant, revoke_grant
from gongshu.kernel.audit import query as audit_query
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope
from gongshu.kernel.identifiers.checks import make_id_number
from gongshu.kernel.identity.tokens import issue_token
from gongshu.kernel.timeutil import now
from gongshu.sharing.delivery_api import data_part
from gongshu.sharing.receipts import verify_receipt
from gongshu.web.app import create_app

SCENARIO = "婚育服务一件事"
NOT_OPEN = "涉及个人隐私"
GRANTED = ["id_number", "full_name", "registered_on", "children"]
IDS = [make_id_number("110101", dt.date(1985, 6, 1), n) for n in range(300, 325)]
NAMES = {3: "百分%之百", 4: "下划_线", 5: "反斜\\杠"}


def _rows() -> list[str]:
    out = []
    for i, key in enumerate(IDS):
        name = NAMES.get(i, f"居民{i:02d}")
        out.append(f"{key},{name},2024-01-{i + 1:02d},{i % 4},{i}.50,{'是' if i % 2 else '否'}")
    return out


def _grant(session: Session, c: dict[str, Any], org_id: int, **kw: Any) -> int:
    data: dict[str, Any] = {
        "consumer_org_id": org_id,
        "resource_id": c["code"],
        "items": GRANTED,
        "scenario": SCENARIO,
        "delivery_method": "api",
        "valid_from": now() - dt.timedelta(days=1),
        "valid_to": now() + dt.timedelta(days=30),
    }
    data.update(kw)
    return int(create_grant(session, c["reviewer"], **data).id)


@pytest.fixture()
def api(session: Session, tmp_path: Path) -> dict[str, Any]:
    """Civil affairs' conditional resource (25 rows), granted to public security for one scenario."""
    c = store_city(session)
    c["code"] = publish(
        session, c, open_attribute="not_open", open_conditions=[], not_open_reason=NOT_OPEN
    ).resource_code
    text = HEADER + "\n" + "\n".join(_rows()) + "\n"
    report = ingest_file(c["civil_clerk"], c["code"], write(tmp_path, "m.csv", text))
    assert report["accepted"] == len(IDS), report
    c["grant_id"] = _grant(session, c, c["police"].id)
    c["token"], _ = issue_token(session, c["police_clerk"], name="api")
    session.commit()
    c["client"] = TestClient(create_app(), headers={"Authorization": f"Bearer {c['token']}"})
    return c


def _get(c: dict[str, Any], query: str, client: TestClient | None = None) -> Any:
    return (client or c["client"]).get(f"/api/v1/data/{c['code']}/rows?scenario={SCENARIO}&{query}")


def _all_pages(c: dict[str, Any], query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = ""
    for _ in range(20):
        body = _get(c, query + (f"&after={after}" if after else "")).json()
        rows += body["rows"]
        if not body["next"]:
            return rows
        after = body["next"]
    raise AssertionError("pagination did not end")


def _denied(c: dict[str, Any], resp: Any, code: str, resource: str | None = None) -> None:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["error"]["code"] == code and "rows" not in body
    with read_scope() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
        assert (last.action, last.outcome, last.object_id) == ("data.read", "denied", resource or c["code"])
        assert last.detail["reason"] == code


def test_r19_filters_equals_in_range_contains(api: dict[str, Any]) -> None:
    eq = _get(api, f"filter[id_number]={IDS[7]}").json()
    assert [r["id_number"] for r in eq["rows"]] == [IDS[7]]
    inn = _get(api, "filter[children][in]=0,3&limit=1000").json()
    assert {r["children"] for r in inn["rows"]} == {0, 3} and len(inn["rows"]) == 13
    rng = _get(api, "filter[registered_on][gte]=2024-01-05&filter[registered_on][lt]=2024-01-09").json()
    assert [r["registered_on"] for r in rng["rows"]] == [f"2024-01-0{d}" for d in (5, 6, 7, 8)]
    # LIKE wildcards are taken literally.
    assert [r["full_name"] for r in _get(api, "filter[full_name][contains]=%25").json()["rows"]] == [NAMES[3]]
    assert [r["full_name"] for r in _get(api, "filter[full_name][contains]=_").json()["rows"]] == [NAMES[4]]
    assert [r["full_name"] for r in _get(api, "filter[full_name][contains]=\\").json()["rows"]] == [NAMES[5]]
    bad = _get(api, "filter[children][gte]=many")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "query.value_invalid"


def test_r19_r26_projection_to_the_granted_items(api: dict[str, Any]) -> None:
    body = _get(api, "limit=3").json()
    assert body["items"] == GRANTED and all(set(r) == set(GRANTED) for r in body["rows"])
    assert (body["grant"], body["basis"], body["scenario"]) == (api["grant_id"], "grant", SCENARIO)
    two = _get(api, "items=full_name,children&limit=2").json()
    assert all(set(r) == {"full_name", "children"} for r in two["rows"])


def test_r26_filter_or_sort_on_a_non_granted_item_is_refused(api: dict[str, Any]) -> None:
    _denied(api, _get(api, "filter[allowance][gte]=1"), "access.items_not_granted")
    _denied(api, _get(api, "items=full_name&sort=-active"), "access.items_not_granted")


def test_r19_keyset_pages_without_duplicates_or_gaps(api: dict[str, Any]) -> None:
    rows = _all_pages(api, "limit=7")
    assert [r["id_number"] for r in rows] == sorted(IDS)
    by_children = _all_pages(api, "limit=4&sort=-children")
    expected = sorted(range(len(IDS)), key=lambda i: (-(i % 4), IDS[i]))
    assert [r["id_number"] for r in by_children] == [IDS[i] for i in expected]


def test_r19_keyset_pages_over_empty_values(api: dict[str, Any], tmp_path: Path) -> None:
    extra = [make_id_number("110101", dt.date(1985, 6, 2), n) for n in range(300, 305)]
    text = HEADER + "\n" + "\n".join(f"{k},空值{i},2024-02-01,,1.00,是" for i, k in enumerate(extra)) + "\n"
    ingest_file(api["civil_clerk"], api["code"], write(tmp_path, "n.csv", text), mode="incremental")
    children = {k: i % 4 for i, k in enumerate(IDS)} | dict.fromkeys(extra)
    for sort in ("children", "-children"):  # an empty value is the smallest
        desc = sort.startswith("-")
        expected = sorted(
            children,
            key=lambda k: ((-1 if desc else 1) * (-1 if children[k] is None else children[k]), k),
        )
        rows = _all_pages(api, f"limit=3&sort={sort}")
        assert [r["id_number"] for r in rows] == expected, sort


def test_r19_cursor_tampered_or_from_another_query_is_refused(api: dict[str, Any]) -> None:
    cursor = _get(api, "limit=5").json()["next"]
    _, body, tag = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["v"] = [IDS[0]]
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    for bad in (f"p.{forged}.{tag}", cursor[:-1] + ("0" if cursor[-1] != "0" else "1"), "garbage"):
        resp = _get(api, f"limit=5&after={bad}")
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "query.cursor_invalid"
    other = _get(api, f"limit=5&sort=children&after={cursor}")
    assert other.status_code == 422 and other.json()["error"]["code"] == "query.cursor_mismatch"


def test_r19_total_count(api: dict[str, Any]) -> None:
    assert _get(api, "limit=2&total=true").json()["total"] == len(IDS)
    assert _get(api, "filter[children]=1&total=true").json()["total"] == 6
    assert _get(api, "limit=2").json()["total"] is None


def test_r19_csv_format_with_receipt_header_and_link(api: dict[str, Any]) -> None:
    resp = _get(api, "items=id_number,children&limit=3&format=csv")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    lines = resp.text.splitlines()
    assert (
        lines[0] == "id_number,children" and lines[1] == f"{sorted(IDS)[0]},{IDS.index(sorted(IDS)[0]) % 4}"
    )
    receipt = json.loads(base64.b64decode(resp.headers["X-Gongshu-Receipt"]))
    assert verify_receipt(receipt, resp.content).valid
    assert receipt["document"]["grant_id"] == api["grant_id"] and receipt["document"]["records"] == 3
    seq = receipt["document"]["audit_seq"]
    assert resp.headers["Link"] == f'</api/v1/receipts/{seq}>; rel="receipt"'
    again = api["client"].get(f"/api/v1/receipts/{seq}")
    assert again.status_code == 200 and again.json() == receipt
    assert TestClient(create_app()).get(f"/api/v1/receipts/{seq}").status_code == 404


def test_r19_json_receipt_digests_the_body_before_it(api: dict[str, Any]) -> None:
    resp = _get(api, "limit=2")
    receipt = resp.json()["receipt"]
    data = data_part(resp.content, receipt)
    assert data is not None and verify_receipt(receipt, data).valid
    assert not verify_receipt(receipt, data.replace(b"2024", b"2025", 1)).valid


def test_r17_row_filter_of_the_grant_is_applied(api: dict[str, Any], session: Session) -> None:
    health = org(session, "health", "department", "市卫健委", "Health")
    clerk = user(session, "health_clerk", health, "data_officer")
    _grant(session, api, health.id, row_filter={"children": [1, 2]})
    token, _ = issue_token(session, clerk, name="h")
    session.commit()
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {token}"})
    body = _get(api, "limit=1000&total=true", client).json()
    assert {r["children"] for r in body["rows"]} == {1, 2} and body["total"] == 12 == len(body["rows"])
    # The filter of the request narrows within the grant's rows, never beyond them.
    assert _get(api, "filter[children]=0&total=true", client).json()["total"] == 0


def test_r26_allowed_reads_are_audited_with_subject_keys(api: dict[str, Any], session: Session) -> None:
    body = _get(api, f"items=full_name&filter[id_number]={IDS[2]}").json()
    assert body["rows"] == [{"full_name": "居民02"}]  # the key is not delivered, yet recorded (hashed)
    entries, total = audit_query.search(session, subject=IDS[2], action_prefix="data.read")
    assert total == 1 and entries[0].outcome == "ok" and entries[0].grant_id == api["grant_id"]
    assert entries[0].seq == body["receipt"]["document"]["audit_seq"]
    assert entries[0].detail["request_sm3"] == body["receipt"]["document"]["request_sm3"]
    assert IDS[2] not in json.dumps(entries[0].detail)  # never in clear in the log
    assert audit_query.search(session, subject=IDS[3], action_prefix="data.read")[1] == 0


def test_r17_r26_refusals_no_grant_expired_revoked_scenario_items_org(
    api: dict[str, Any], session: Session
) -> None:
    health = org(session, "health", "department", "市卫健委", "Health")
    clerk = user(session, "health_clerk", health, "data_officer")
    tax = org(session, "tax", "department", "市税务局", "Tax")
    tax_clerk = user(session, "tax_clerk", tax, "data_officer")
    _grant(
        session, api, tax.id, valid_from=now() - dt.timedelta(days=10), valid_to=now() - dt.timedelta(days=1)
    )
    transport = org(session, "transport", "department", "市交通局", "Transport")
    transport_clerk = user(session, "transport_clerk", transport, "data_officer")
    revoked = _grant(session, api, transport.id)
    revoke_grant(session, api["reviewer"], revoked, reason="期满前收回", provider_org_id=api["civil"].id)
    other_code = publish(
        session,
        api,
        name="婚姻登记信息（二）",
        open_attribute="not_open",
        open_conditions=[],
        not_open_reason=NOT_OPEN,
    ).resource_code
    session.commit()

    def client(actor: Any) -> TestClient:
        token, _ = issue_token(session, actor, name="t")
        session.commit()
        return TestClient(create_app(), headers={"Authorization": f"Bearer {token}"})

    _denied(api, _get(api, "limit=1", client(clerk)), "access.no_grant")  # another organisation
    other = api["client"].get(f"/api/v1/data/{other_code}/rows?scenario={SCENARIO}")
    _denied(api, other, "access.no_grant", other_code)  # no grant for that resource
    _denied(api, _get(api, "limit=1", client(tax_clerk)), "access.grant_expired")
    _denied(api, _get(api, "limit=1", client(transport_clerk)), "access.grant_revoked")
    wrong = api["client"].get(f"/api/v1/data/{api['code']}/rows?scenario=其他场景")
    _denied(api, wrong, "access.scenario_mismatch")
    _denied(api, _get(api, "items=id_number,allowance"), "access.items_not_granted")


def test_r18_not_shared_entry_is_refused(api: dict[str, Any], session: Session) -> None:
    code = publish(
        session,
        api,
        name="收养登记信息",
        sharing_attribute="not_shared",
        sharing_conditions=[],
        sharing_methods=[],
        legal_basis="《中华人民共和国民法典》第一千一百一十条",
        open_attribute="not_open",
        open_conditions=[],
        not_open_reason=NOT_OPEN,
    ).resource_code
    resp = api["client"].get(f"/api/v1/data/{code}/rows?scenario={SCENARIO}")
    _denied(api, resp, "access.not_shared", code)


def test_r22_anonymous_reaches_only_open_data_without_personal_items(
    api: dict[str, Any], session: Session, tmp_path: Path
) -> None:
    anonymous = TestClient(create_app())
    _denied(api, anonymous.get(f"/api/v1/data/{api['code']}/rows"), "access.not_open")
    code = publish(
        session, api, name="婚姻登记统计", open_attribute="general", open_conditions=[], deidentified=True
    ).resource_code
    text = HEADER + "\n" + "\n".join(_rows()) + "\n"
    ingest_file(api["civil_clerk"], code, write(tmp_path, "o.csv", text))
    body = anonymous.get(f"/api/v1/data/{code}/rows?limit=10").json()
    assert body["basis"] == "open_general" and body["grant"] is None
    assert "id_number" not in body["items"] and all("id_number" not in r for r in body["rows"])
    assert body["next"].startswith("e.")  # the key is not the public's: the cursor hides it
    rows, after = body["rows"], body["next"]
    while after:
        page = anonymous.get(f"/api/v1/data/{code}/rows?limit=10&after={after}").json()
        rows, after = rows + page["rows"], page["next"]
    assert len(rows) == len(IDS) and len({r["full_name"] for r in rows}) == len(IDS)
    _denied(
        api,
        anonymous.get(f"/api/v1/data/{code}/rows?filter[id_number]={IDS[0]}"),
        "access.items_not_granted",
        code,
    )


def test_r19_invalid_parameters_are_precise(api: dict[str, Any]) -> None:
    for query, code in (
        ("limit=0", "query.limit"),
        ("limit=1001", "query.limit"),
        ("format=xml", "delivery.format_invalid"),
        ("colour=red", "delivery.param_unknown"),
        ("filter[children][like]=1", "query.operator_invalid"),
    ):
        resp = _get(api, query)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == code, (query, resp.text)


def _session_client(session: Session, username: str) -> TestClient:
    from gongshu.kernel.identity import sessions
    from gongshu.kernel.identity.models import User
    from gongshu.web.deps import SESSION_COOKIE

    user = session.scalars(select(User).where(User.username == username)).one()
    raw, _ = sessions.start_session(session, user, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    client = TestClient(create_app())
    client.cookies.set(SESSION_COOKIE, raw)
    return client


def test_r19_token_fast_path_answers_as_the_routed_endpoint(api: dict[str, Any], session: Session) -> None:
    """Token calls skip the routing layers (RowApiFastPath); a browser session of the same user takes the
    routed endpoint: the same rows, grant, next page and receipt form, and both reads audited."""
    query = "items=id_number,full_name&filter[children][in]=1,2&limit=3&sort=-registered_on"
    fast = _get(api, query)
    routed = _get(api, query, _session_client(session, "police_clerk"))
    assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
    a, b = fast.json(), routed.json()
    for key in ("grant", "basis", "scenario", "items", "rows", "next", "total"):
        assert a[key] == b[key], key
    assert a["receipt"]["document"]["audit_seq"] != b["receipt"]["document"]["audit_seq"]
    for resp in (fast, routed):
        assert verify_receipt(resp.json()["receipt"]).valid
        assert resp.headers["x-gongshu-grant"] == str(api["grant_id"])
        assert resp.headers["link"].endswith('rel="receipt"')
    metrics = api["client"].get("/metrics").text
    assert 'route="/api/v1/data/{code}/rows"' in metrics


def test_r26_token_fast_path_refusals_keep_the_error_shape(api: dict[str, Any]) -> None:
    """The fast path refuses as the routed endpoint does: a wrong token 401, a NUL 422, another scenario
    403 (recorded in the audit log), an unknown parameter 422 — in the API's error shape, in English
    when asked."""
    bad = TestClient(create_app(), headers={"Authorization": "Bearer gs_nothing_here"})
    resp = _get(api, "limit=1", bad)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.token_invalid", resp.text
    resp = api["client"].get(f"/api/v1/data/{api['code']}/rows?scenario=x%00y")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "request.nul_character"
    resp = bad.get(f"/api/v1/data/{api['code']}/rows?scenario=x%00y")  # credentials come first
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.token_invalid", resp.text
    resp = api["client"].get(f"/api/v1/data/{api['code']}/rows?scenario=另一个场景&lang=en")
    _denied(api, resp, "access.scenario_mismatch")
    assert resp.json()["error"]["message"].isascii()
    resp = _get(api, "colour=red")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "delivery.param_unknown"
