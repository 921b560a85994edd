"""R27 R28: an unexpected exception is never a bare "Internal Server Error". A page answers the platform's
styled error page in the page's language (Chinese first, English on the switch) with a short incident
reference; the API answers its JSON error shape with the stable code `internal_error` and the reference —
never the exception's text. The traceback is logged under the reference, and the connection is not reset:
the next request on the same keep-alive connection is served."""

from __future__ import annotations

import http.client
import logging
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from auth_fixtures import seed_city
from fastapi.testclient import TestClient

from gongshu.catalog import search
from gongshu.web.app import create_app
from gongshu.web.pages import shell

SECRET = "boom-secret-detail-7f3a"  # the exception's text: must never reach a client
HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _fail(*args: object, **kwargs: object) -> object:
    raise RuntimeError(SECRET)


@pytest.fixture()
def client(db_clean: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    shell.forget_policy_state()
    seed_city()
    monkeypatch.setattr(search, "search", _fail)  # the catalog's page and API both call it
    with TestClient(create_app()) as c:  # raise_server_exceptions: nothing may escape the app
        yield c


def _reference(text: str) -> str:
    found = re.search(r"(?:事件编号|incident reference) ([0-9A-F]{8})", text)
    assert found, "no incident reference"
    return found.group(1)


def test_r28_an_unexpected_error_on_a_page_is_the_styled_error_page_with_a_reference(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="gongshu.web"):
        page = client.get("/catalog", headers=HTML)
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text and 'data-testid="error-page"' in page.text
    assert 'data-testid="lang-switch"' in page.text
    assert "Internal Server Error" not in page.text and SECRET not in page.text
    assert '<code data-testid="error-code">internal_error</code>' in page.text
    reference = _reference(page.text)
    assert "平台内部出错" in page.text
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert SECRET in str(logged[0].exc_info[1]) and "/catalog" in logged[0].getMessage()

    english = client.get("/catalog?lang=en", headers=HTML)
    assert english.status_code == 500 and '<html lang="en">' in english.text
    assert "Something went wrong inside the platform" in english.text and "平台内部出错" not in english.text
    assert _reference(english.text) != reference  # one reference per incident


def test_r28_an_unexpected_error_in_the_api_is_the_json_error_shape(client: TestClient) -> None:
    answer = client.get("/api/v1/catalog", params={"q": "婚姻"})
    assert answer.status_code == 500 and answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == "internal_error" and re.fullmatch(r"[0-9A-F]{8}", error["details"]["reference"])
    assert (
        error["details"]["reference"] in error["message"]
        and error["details"]["reference"] in error["message_en"]
    )
    assert SECRET not in answer.text and "RuntimeError" not in answer.text


def test_r28_the_connection_is_not_reset_after_an_unexpected_error(
    live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "search", _fail)
    parts = urlsplit(live_server)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", "/api/v1/catalog")
        failed = conn.getresponse()
        body = failed.read()
        assert failed.status == 500 and b"internal_error" in body and SECRET.encode() not in body
        assert (failed.getheader("connection") or "").lower() != "close"
        sock = conn.sock
        assert sock is not None
        time.sleep(0.3)  # a server that gives up on the connection closes it now
        sock.setblocking(False)
        try:
            closed = sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            closed = False  # nothing to read, still open
        finally:
            sock.setblocking(True)
        assert not closed, "the server closed the connection after the error"
        conn.request("GET", "/healthz")
        ok = conn.getresponse()
        assert ok.status == 200 and ok.read() and conn.sock is sock  # the same connection served it
    finally:
        conn.close()
