"""R7: a service interface's path template is checked when it is registered (only `{parameter}`
placeholders naming an allowed parameter, balanced braces); a call gives every path parameter, none of
them a dot segment, each percent-encoded as one path segment; a call the interface cannot answer is
refused with a 422 naming the parameter, and nothing reaches the department's API."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from catalog_fixtures import user
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session
from store_fixtures import IDS, publish, store_city

from gongshu.aggregation import interface
from gongshu.aggregation.interface_models import ServiceInterface
from gongshu.kernel.access.models import Grant
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.identity import tokens
from gongshu.web.app import create_app

SCENARIO = "户籍核验"
BASIS = "《婚姻登记条例》规定登记档案不得集中存储"


class Department:
    """A department's API on 127.0.0.1 that records the raw path of every call and answers one row."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        dept = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                dept.calls.append(self.path)
                body = json.dumps({"rows": [{"id_number": IDS[0], "full_name": "张三"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
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
def c(session: Session) -> dict[str, Any]:
    out = store_city(session)
    out["police_data"] = user(session, "police_data", out["police"], "data_officer")
    out["code"] = publish(session, out).resource_code
    at = dt.datetime.now(dt.UTC)
    session.add(
        Grant(
            consumer_org_id=out["police"].id,
            resource_id=out["code"],
            items=["id_number", "full_name"],
            scenario=SCENARIO,
            delivery_method="api",
            valid_from=at - dt.timedelta(days=1),
            valid_to=at + dt.timedelta(days=30),
        )
    )
    session.commit()
    return out


def _client(c: dict[str, Any], name: str) -> TestClient:
    with session_scope() as s:
        raw, _ = tokens.issue_token(s, c[name], name="test")
    return TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})


def _put(client: TestClient, c: dict[str, Any], dept: Department, template: str, **params: str) -> Any:
    return client.put(
        f"/api/v1/data/{c['code']}/interface",
        json={
            "base_url": dept.url,
            "path_template": template,
            "params": params or {"id_number": "id_number"},
            "legal_basis": BASIS,
        },
    )


def _confirm(c: dict[str, Any]) -> None:
    with session_scope() as s:
        interface.confirm_interface(s, c["reviewer"], c["code"])


def _error(resp: Any) -> dict[str, Any]:
    return dict(resp.json()["error"])


def test_r7_path_templates_are_checked_at_registration(c: dict[str, Any], dept: Department) -> None:
    clerk = _client(c, "civil_clerk")
    for template, code, field in (
        ("/records/{}", "interface.path_placeholder_invalid", "path_template"),
        ("/records/{0}", "interface.path_placeholder_invalid", "path_template"),
        ("/records/{id_number.real}", "interface.path_placeholder_invalid", "path_template"),
        ("/records/{id_number!r}", "interface.path_placeholder_invalid", "path_template"),
        ("/records/{id_number:>20}", "interface.path_placeholder_invalid", "path_template"),
        ("/records/{id_number", "interface.path_braces_unbalanced", "path_template"),
        ("/records/id_number}", "interface.path_braces_unbalanced", "path_template"),
        ("/records/{{id_number}}", "interface.path_braces_unbalanced", "path_template"),
        ("/records/{full_name}", "interface.path_invalid", "path_template"),  # an item, not a parameter
        ("/records/{nobody}", "interface.path_invalid", "path_template"),
    ):
        resp = _put(clerk, c, dept, template)
        assert resp.status_code == 422, (template, resp.text)
        error = _error(resp)
        assert (error["code"], error["field"]) == (code, field), template
        assert error["message"] != error["message_en"] and error["message_en"]
    assert _error(_put(clerk, c, dept, "/r/{id_number"))["details"] == {"position": 4}
    assert _error(_put(clerk, c, dept, "/r/{full_name}"))["details"] == {"undeclared": ["full_name"]}
    for name, value in (("path_template", "/x" * 251), ("base_url", dept.url + "/x" * 250)):
        long = clerk.put(
            f"/api/v1/data/{c['code']}/interface",
            json={
                "base_url": dept.url,
                "params": {"id_number": "id_number"},
                "legal_basis": BASIS,
                name: value,
            },
        )
        assert long.status_code == 422 and _error(long)["code"] == "interface.address_too_long", long.text
        assert _error(long)["field"] == name
    with read_scope() as s:
        assert interface.get_interface(s, c["code"]) is None  # nothing was stored
    ok = _put(clerk, c, dept, "/records/{id_number}/{name}", id_number="id_number", name="full_name")
    assert ok.status_code == 200, ok.text
    assert ok.json()["path_template"] == "/records/{id_number}/{name}"


def test_r7_path_parameters_are_required_encoded_and_never_dot_segments(
    c: dict[str, Any], dept: Department
) -> None:
    assert _put(_client(c, "civil_clerk"), c, dept, "/records/{id_number}").status_code == 200
    _confirm(c)
    police = _client(c, "police_data")
    path = f"/api/v1/data/{c['code']}/interface"
    for params, code, field in (
        ({}, "interface.param_required", "id_number"),
        ({"id_number": ""}, "interface.param_required", "id_number"),
        ({"id_number": ".."}, "interface.param_invalid", "id_number"),
        ({"id_number": "."}, "interface.param_invalid", "id_number"),
    ):
        resp = police.get(path, params={**params, "scenario": SCENARIO})
        assert resp.status_code == 422, (params, resp.text)
        error = _error(resp)
        assert (error["code"], error["field"]) == (code, field), params
        assert "id_number" in error["message"] and "id_number" in error["message_en"]
    assert dept.calls == []  # nothing was forwarded
    for value, sent in (
        (IDS[0], IDS[0]),
        ("../admin", "..%2Fadmin"),
        ("a/b?c=d#e", "a%2Fb%3Fc%3Dd%23e"),
        ("%2e%2e", "%252e%252e"),
        ("张 三", "%E5%BC%A0%20%E4%B8%89"),
    ):
        resp = police.get(path, params={"id_number": value, "scenario": SCENARIO})
        assert resp.status_code == 200, (value, resp.text)
        assert dept.calls[-1] == f"/v1/records/{sent}", value


def test_r7_a_call_without_any_parameter_is_refused_before_the_department(
    c: dict[str, Any], dept: Department
) -> None:
    assert _put(_client(c, "civil_clerk"), c, dept, "/records").status_code == 200
    _confirm(c)
    police = _client(c, "police_data")
    path = f"/api/v1/data/{c['code']}/interface"
    for params in ({}, {"id_number": ""}):
        resp = police.get(path, params={**params, "scenario": SCENARIO})
        assert resp.status_code == 422, resp.text
        error = _error(resp)
        assert error["code"] == "interface.param_required" and error["details"] == {"missing": ["id_number"]}
    assert dept.calls == []
    ok = police.get(path, params={"id_number": IDS[0], "scenario": SCENARIO})
    assert ok.status_code == 200 and dept.calls == [f"/v1/records?id_number={IDS[0]}"]


def test_r26_a_refused_caller_learns_nothing_of_the_parameters(c: dict[str, Any], dept: Department) -> None:
    """R26: the access decision comes before the parameters are checked — a caller without a grant is
    refused as such, not told which parameters the interface takes; the department is not called."""
    assert _put(_client(c, "civil_clerk"), c, dept, "/records").status_code == 200
    _confirm(c)
    with session_scope() as s:
        s.execute(Grant.__table__.delete())
    police = _client(c, "police_data")
    resp = police.get(f"/api/v1/data/{c['code']}/interface", params={"scenario": SCENARIO})
    assert resp.status_code == 403, resp.text
    assert "id_number" not in resp.text and dept.calls == []


def test_r7_a_template_registered_before_the_checks_is_refused_without_calling(
    c: dict[str, Any], dept: Department
) -> None:
    assert _put(_client(c, "civil_clerk"), c, dept, "/records/{id_number}").status_code == 200
    _confirm(c)
    police = _client(c, "police_data")
    for stored in ("/records/{}", "/records/{id_number"):
        with session_scope() as s:  # as an older version let it be stored
            s.execute(update(ServiceInterface).values(path_template=stored))
        resp = police.get(
            f"/api/v1/data/{c['code']}/interface", params={"id_number": IDS[0], "scenario": SCENARIO}
        )
        assert resp.status_code == 409 and _error(resp)["code"] == "interface.registration_invalid", stored
    assert dept.calls == []
