"""R7: data that may not be copied is served through the department's own API, proxied by the platform —
only once the authority has confirmed it, only to actors the access decision point allows, projected to
the granted items and audited with the subject keys; a refused call forwards nothing."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from catalog_fixtures import user
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import IDS, publish, store_city

from gongshu.aggregation import interface
from gongshu.kernel.access.models import Grant
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.audit.service import subject_hash
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Conflict, Forbidden, GongshuError, ValidationFailed
from gongshu.kernel.identity import tokens
from gongshu.web.app import create_app


class Department:
    """A stand-in for a department's API on 127.0.0.1: answers /records?id_number=… and remembers calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.status = 200
        self.delay = 0.0
        dept = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                dept.calls.append(self.path)
                time.sleep(dept.delay)
                query = parse_qs(urlsplit(self.path).query)
                key = query.get("id_number", [""])[0]
                body = json.dumps(
                    {
                        "rows": [
                            {
                                "id_number": key,
                                "full_name": "张三",
                                "secret": "x",
                                "registered_on": "2024-01-02",
                            }
                        ]
                    }
                ).encode()
                try:
                    self.send_response(dept.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)
                except BrokenPipeError:  # the platform gave up waiting (timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def dept() -> Iterator[Department]:
    d = Department()
    yield d
    d.close()


@pytest.fixture()
def c(session: Session, dept: Department) -> dict[str, Any]:
    out = store_city(session)
    out["police_data"] = user(session, "police_data", out["police"], "data_officer")
    out["code"] = publish(session, out).resource_code
    now = dt.datetime.now(dt.UTC)
    session.add(
        Grant(
            consumer_org_id=out["police"].id,
            resource_id=out["code"],
            items=["id_number", "full_name"],
            scenario="户籍核验",
            delivery_method="api",
            valid_from=now - dt.timedelta(days=1),
            valid_to=now + dt.timedelta(days=30),
        )
    )
    session.commit()
    return out


def _register(c: dict[str, Any], dept: Department, confirm: bool = True, timeout: float = 2.0) -> None:
    with session_scope() as s:
        interface.register_interface(
            s,
            c["civil_clerk"],
            c["code"],
            base_url=dept.url,
            path_template="/records",
            params={"id_number": "id_number"},
            timeout_seconds=timeout,
            legal_basis="《婚姻登记条例》规定登记档案不得集中存储",
        )
    if confirm:
        with session_scope() as s:
            interface.confirm_interface(s, c["reviewer"], c["code"])


def test_r7_interface_needs_the_authoritys_confirmation(c: dict[str, Any], dept: Department) -> None:
    with session_scope() as s, pytest.raises(Forbidden):
        interface.register_interface(
            s,
            c["police_data"],
            c["code"],
            base_url=dept.url,
            params={"id_number": "id_number"},
            legal_basis="x",
        )
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        interface.register_interface(
            s, c["civil_clerk"], c["code"], base_url=dept.url, params={"id_number": "nope"}, legal_basis="x"
        )
    assert err.value.code == "interface.params_invalid"
    _register(c, dept, confirm=False)
    with session_scope() as s, pytest.raises(Conflict) as err2:
        interface.call_interface(s, c["police_data"], c["code"], {"id_number": IDS[0]}, "户籍核验")
    assert err2.value.code == "interface.not_confirmed" and dept.calls == []
    with session_scope() as s, pytest.raises(Forbidden):
        interface.confirm_interface(s, c["civil_clerk"], c["code"])
    with session_scope() as s:
        row = interface.confirm_interface(s, c["reviewer"], c["code"])
        assert row.enabled and row.confirmed_by_user_id == c["reviewer"].user_id


def test_r7_call_is_forwarded_projected_and_audited(c: dict[str, Any], dept: Department) -> None:
    _register(c, dept)
    with session_scope() as s:
        rows, decision = interface.call_interface(
            s, c["police_data"], c["code"], {"id_number": IDS[0]}, "户籍核验"
        )
    assert rows == [{"id_number": IDS[0], "full_name": "张三"}] and decision.basis == "grant"
    assert dept.calls == [f"/records?id_number={IDS[0]}"]
    with read_scope() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.read")).all()[-1]
        assert entry.outcome == "ok" and entry.scenario == "户籍核验" and entry.grant_id == decision.grant_id
        assert entry.subject_keys == [subject_hash(IDS[0])]
    with session_scope() as s, pytest.raises(ValidationFailed) as err:
        interface.call_interface(s, c["police_data"], c["code"], {"full_name": "张三"}, "户籍核验")
    assert err.value.code == "interface.param_not_allowed" and len(dept.calls) == 1


def test_r7_upstream_errors_are_precise(c: dict[str, Any], dept: Department) -> None:
    _register(c, dept, timeout=0.3)
    dept.status = 503
    with session_scope() as s, pytest.raises(GongshuError) as err:
        interface.call_interface(s, c["police_data"], c["code"], {"id_number": IDS[0]}, "户籍核验")
    assert err.value.code == "interface.upstream_error" and err.value.details == {"status": 503}
    dept.status, dept.delay = 200, 1.0
    with session_scope() as s, pytest.raises(GongshuError) as err:
        interface.call_interface(s, c["police_data"], c["code"], {"id_number": IDS[0]}, "户籍核验")
    assert err.value.code == "interface.upstream_timeout" and err.value.status_code == 504


def _client(c: dict[str, Any], name: str) -> TestClient:
    with session_scope() as s:
        raw, _ = tokens.issue_token(s, c[name], name="test")
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def test_r7_api_refuses_without_grant_or_in_another_scenario_and_forwards_nothing(
    c: dict[str, Any], dept: Department
) -> None:
    _register(c, dept)
    other = _client(c, "civil_officer")  # no data role at the consumer side, no grant
    police = _client(c, "police_data")
    wrong = police.get(
        f"/api/v1/data/{c['code']}/interface", params={"id_number": IDS[0], "scenario": "其他"}
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "access.scenario_mismatch"
    citizen = _client(c, "citizen")
    refused = citizen.get(
        f"/api/v1/data/{c['code']}/interface", params={"id_number": IDS[0], "scenario": "x"}
    )
    assert refused.status_code == 403
    assert dept.calls == []
    with read_scope() as s:
        denied = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
        assert len(denied) == 2 and {d.object_id for d in denied} == {c["code"]}
        assert denied[0].detail["reason"] == "access.scenario_mismatch"
    ok = police.get(
        f"/api/v1/data/{c['code']}/interface", params={"id_number": IDS[0], "scenario": "户籍核验"}
    )
    assert ok.status_code == 200 and ok.json()["rows"] == [{"id_number": IDS[0], "full_name": "张三"}]
    assert len(dept.calls) == 1
    # R7 R26: the registration page is the provider's data officers' and the authority's: a catalog
    # officer without a data role gets the answer for an unknown resource.
    assert other.get(f"/data/{c['code']}/interface").status_code == 404


def _page_client(session: Session, username: str) -> tuple[TestClient, str]:
    return page_client(username, session=session)


def test_r7_the_provider_registers_its_interface_from_the_page_and_the_authority_confirms_it(
    session: Session, c: dict[str, Any], dept: Department
) -> None:
    page = f"/data/{c['code']}/interface"
    officer, csrf = _page_client(session, "civil_clerk")
    shown = officer.get(page)
    assert shown.status_code == 200 and 'data-testid="interface-register-form"' in shown.text
    assert 'data-testid="interface-confirm-form"' not in shown.text  # only the authority confirms
    form = {
        "csrf_token": csrf,
        "base_url": dept.url,
        "path_template": "/records",
        "method": "GET",
        "params": "id_number = id_number\nname",
        "timeout_seconds": "2",
        "legal_basis": "《婚姻登记条例》规定登记档案不得集中存储",
    }
    bad = officer.post(page, data=form)
    assert bad.status_code == 422 and "第 2 行" in bad.text and "interface.params_line" in bad.text
    assert "《婚姻登记条例》" in bad.text  # what was typed comes back
    with read_scope() as s:
        assert interface.get_interface(s, c["code"]) is None  # nothing stored
    wrong = officer.post(page, data={**form, "params": "id_number = nope"})
    assert wrong.status_code == 422 and "interface.params_invalid" in wrong.text
    done = officer.post(page, data={**form, "params": "id_number = id_number"}, follow_redirects=False)
    assert done.status_code == 303
    with read_scope() as s:
        row = interface.get_interface(s, c["code"])
        assert row is not None and row.params == {"id_number": "id_number"} and not row.enabled
    assert "Awaiting the authority's confirmation" in officer.get(f"{page}?lang=en").text.replace(
        "&#39;", "'"
    )
    other, other_csrf = _page_client(session, "police_data")
    seen = other.get(page)  # another department: nothing of it, as for an unknown resource (R7 R26)
    assert seen.status_code == 404 and 'data-testid="interface-register-form"' not in seen.text
    assert dept.url not in seen.text and 'data-testid="interface-address"' not in seen.text
    assert other.post(page, data={**form, "csrf_token": other_csrf}).status_code == 404
    reviewer, reviewer_csrf = _page_client(session, "reviewer")
    assert 'data-testid="interface-confirm-form"' in reviewer.get(page).text
    confirmed = reviewer.post(f"{page}/confirm", data={"csrf_token": reviewer_csrf}, follow_redirects=False)
    assert confirmed.status_code == 303
    with read_scope() as s:
        assert interface.get_interface(s, c["code"]).enabled  # type: ignore[union-attr]


def test_r7_the_data_home_links_every_way_in_of_a_resource(session: Session, c: dict[str, Any]) -> None:
    officer, _ = _page_client(session, "civil_clerk")
    home = officer.get("/data")
    code = c["code"]
    for path in ("upload", "batches", "sources", "interface"):
        assert f'href="/data/{code}/{path}"' in home.text
    assert f'href="/data/quality/{code}"' in home.text and "/api/v1/data/{code}/push" in home.text
    assert 'href="/data/quality" data-testid="nav-quality"' in home.text
    assert "API tokens" in officer.get("/data?lang=en").text
