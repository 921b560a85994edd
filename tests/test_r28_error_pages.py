"""R28: refusals a person meets in the browser — unknown page URLs, a wrong method, query and path values
that do not parse — are the platform's error page in the page's language (Chinese first, the English
switch on it), with the stable code as a small detail apart from the message; the API keeps its JSON error
shape with the same stable codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

import pytest
from auth_fixtures import seed_city
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from page_fixtures import page_client

from gongshu.kernel.identity.actor import Actor
from gongshu.web.app import create_app
from gongshu.web.deps import IdPath, require_actor
from gongshu.web.pages import shell
from gongshu.web.render import error_detail, render

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture()
def client(db_clean: str) -> Iterator[TestClient]:
    shell.forget_policy_state()
    seed_city()
    with TestClient(create_app()) as c:
        yield c


def _message(html: str) -> str:
    found = re.search(r'data-testid="error-message">(.*?)</p>', html, re.S)
    assert found, "no error message on the page"
    return found.group(1).strip()


def _code(html: str) -> str:
    found = re.search(r'<code data-testid="error-code">([^<]*)</code>', html)
    assert found, "no error code on the page"
    return found.group(1)


@pytest.mark.parametrize("path", ["/open", "/anything", "/catalog/no/such/page"])
def test_r28_unknown_page_url_is_the_chinese_error_page_with_status_404(
    client: TestClient, path: str
) -> None:
    response = client.get(path, headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '{"detail"' not in response.text and "Not Found" not in response.text
    assert '<html lang="zh-CN">' in response.text
    assert "页面不存在" in response.text
    assert "没有找到这个页面" in _message(response.text)
    assert 'data-testid="lang-switch"' in response.text  # the English switch, as on every page
    assert _code(response.text) == "request.not_found"

    english = client.get(f"{path}?lang=en", headers=HTML)
    assert english.status_code == 404 and '<html lang="en">' in english.text
    assert "There is no such page" in _message(english.text) and "没有找到" not in english.text


def test_r28_a_client_without_an_accept_header_gets_the_page_too(client: TestClient) -> None:
    response = client.get("/open")  # curl and the test client send */*
    assert response.status_code == 404 and 'data-testid="error-page"' in response.text


def test_r28_get_on_a_post_only_page_is_the_error_page_with_status_405(client: TestClient) -> None:
    response = client.get("/logout", headers=HTML)
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")
    assert "Method Not Allowed" not in response.text and '{"detail"' not in response.text
    assert "这个网址不能直接打开" in _message(response.text)
    assert _code(response.text) == "request.method_not_allowed"
    assert "POST" in response.headers["allow"]


def test_r28_api_paths_and_json_clients_keep_the_projects_error_shape(client: TestClient) -> None:
    missing = client.get("/api/v1/no-such-thing", headers=HTML)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "request.not_found"
    assert missing.json()["error"]["message"] == "没有这个接口地址"

    wrong = client.get("/api/v1/notifications/read", headers=HTML)
    assert wrong.status_code in (401, 405)  # credentials are checked first (default deny)
    assert wrong.json()["error"]["code"] in ("auth.login_required", "request.method_not_allowed")

    asking_json = client.get("/open", headers={"accept": "application/json"})
    assert asking_json.status_code == 404
    assert asking_json.json()["error"]["code"] == "request.not_found"

    static = client.get("/static/css/no-such.css", headers={"accept": "text/css,*/*;q=0.1"})
    assert static.status_code == 404 and static.json()["error"]["code"] == "request.not_found"


def _with_probe_pages(app: FastAPI) -> FastAPI:
    """Pages with typed path and query values, as the domain pages declare them (`/cases/{case_id}`,
    `/notifications?unread=`, `?page=`), independent of how those pages evolve."""

    @app.get("/probe/{case_id}", response_class=HTMLResponse)
    def probe(request: Request, case_id: IdPath, page: int = 1, unread: bool = False) -> HTMLResponse:
        return render(request, "error.html", error=None, message=f"{case_id} {page} {unread}")

    @app.get("/probe-private/{case_id}", response_class=HTMLResponse)
    def private(
        request: Request, actor: Annotated[Actor, Depends(require_actor)], case_id: int
    ) -> HTMLResponse:
        return render(request, "error.html", error=None, message=str(case_id))

    return app


def test_r28_a_query_value_that_does_not_parse_is_said_in_chinese(db_clean: str) -> None:
    client = TestClient(_with_probe_pages(create_app()))
    assert client.get("/probe/7?page=2&unread=true", headers=HTML).status_code == 200
    response = client.get("/probe/7?page=abc", headers=HTML)
    assert response.status_code == 422
    message = _message(response.text)
    assert message.startswith("请求参数 page 应为整数"), message
    assert "abc" in message  # what was typed, quoted
    assert "Input should" not in response.text and "unable to parse" not in response.text
    assert _code(response.text) == "request.invalid"

    case = client.get("/probe/abc", headers=HTML)
    assert case.status_code == 422 and _message(case.text).startswith("请求参数 case_id 应为整数")
    too_big = client.get(f"/probe/{2**40}", headers=HTML)
    assert _message(too_big.text).startswith("请求参数 case_id 应不大于 2147483647")
    unread = client.get("/probe/7?unread=abc", headers=HTML)
    assert unread.status_code == 422 and _message(unread.text).startswith("请求参数 unread 应为是或否")

    english = client.get("/probe/7?page=abc&lang=en", headers=HTML)
    assert _message(english.text).startswith("Request field page must be a whole number")
    assert "请求参数" not in english.text


def test_r28_credentials_come_before_bad_values_on_pages(db_clean: str) -> None:
    seed_city()
    anonymous = TestClient(_with_probe_pages(create_app()), follow_redirects=False)
    refused = anonymous.get("/probe-private/abc", headers=HTML)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    logged_in, _ = page_client("zhang")
    client = TestClient(
        _with_probe_pages(create_app()), cookies={"gs_session": logged_in.cookies["gs_session"]}
    )
    bad = client.get("/probe-private/abc", headers=HTML)
    assert bad.status_code == 422 and _message(bad.text).startswith("请求参数 case_id 应为整数")


def test_r28_the_api_keeps_its_code_and_fields_for_a_bad_query_value(client: TestClient) -> None:
    response = client.get("/api/v1/catalog?limit=abc")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "request.invalid" and error["field"] == "limit"
    assert error["details"]["errors"][0] == {
        "field": "limit",
        "type": "int_parsing",
        "message": "Input should be a valid integer, unable to parse string as an integer",
    }
    assert error["message"].startswith("请求参数 limit 应为整数")
    assert error["message_en"].startswith("Request field limit must be a whole number")


@pytest.mark.parametrize(
    ("error", "zh", "en"),
    [
        ({"type": "missing", "loc": ("query", "q")}, "请求参数 q 必须填写", "Request field q is required"),
        (
            {"type": "string_too_long", "ctx": {"max_length": 200}, "input": "x" * 300},
            "请求参数 q 最多 200 个字符",
            "Request field q must be at most 200 characters long",
        ),
        (
            {"type": "greater_than_equal", "ctx": {"ge": 1}, "input": 0},
            "请求参数 q 应不小于 1",
            "Request field q must be at least 1",
        ),
        (
            {"type": "enum", "ctx": {"expected": "'csv', 'xlsx' or 'json'"}, "input": "pdf"},
            "请求参数 q 应为以下取值之一：'csv'、'xlsx'、'json'（收到的是“pdf”）",
            "Request field q must be one of: 'csv', 'xlsx' or 'json' (got \"pdf\")",
        ),
        (
            {"type": "date_from_datetime_parsing", "ctx": {"error": "too short"}, "input": "x" * 60},
            "请求参数 q 应为日期，如 2024-06-04（收到的是“" + "x" * 40 + "…”）",
            'Request field q must be a date, such as 2024-06-04 (got "' + "x" * 40 + '…")',
        ),
        (
            {"type": "some_future_type", "msg": "Something else"},
            "请求参数 q 的取值无效",
            "Request field q is invalid: Something else",
        ),
    ],
)
def test_r28_validation_messages_by_pydantic_error_type(error: dict[str, object], zh: str, en: str) -> None:
    from gongshu.web.app import _validation_message

    assert _validation_message(error, "q") == (zh, en)


def test_r28_the_error_code_is_a_muted_detail_apart_from_the_message(client: TestClient) -> None:
    html = client.get("/catalog/NO-SUCH-ENTRY", headers=HTML).text
    message = _message(html)
    assert "catalog." not in message and "错误代码" not in message  # the sentence alone
    detail = re.search(r'<span class="error-code" data-testid="error-code-detail">(.*?)</span>', html, re.S)
    assert detail, "the code is shown as its own small detail"
    assert detail.group(1).startswith("错误代码：<code")
    assert "错误代码: <code" not in html  # the old line, glued label and code

    assert str(error_detail("en", "workflow.attachment_name")) == (
        '<span class="error-code" data-testid="error-code-detail">Error code: '
        '<code data-testid="error-code">workflow.attachment_name</code></span>'
    )
    assert str(error_detail("zh", None)) == ""


def test_r28_bare_codes_after_messages_are_styled_as_a_detail_of_their_own(client: TestClient) -> None:
    """Pages that still put `<code>` right after the message in an error banner (workflow, sharing,
    catalog import, aggregation) show it on a line of its own, small, muted, labelled 错误代码."""
    css = client.get("/static/css/gongshu.css").text
    rule = re.search(r"\.error-code,\s*\.banner\.error > code,\s*\.form-errors > code \{([^}]*)\}", css)
    assert rule and "display: block" in rule.group(1) and "var(--c-muted)" in rule.group(1)
    assert re.search(r':lang\(zh\) \.banner\.error > code::before,[^{]*\{\s*content: "错误代码：";', css)
    assert re.search(r':lang\(en\) \.banner\.error > code::before,[^{]*\{\s*content: "Error code: ";', css)
