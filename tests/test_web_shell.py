"""The web shell: health, metrics (R27 daily monitoring), OpenAPI and its docs from local files, vendored
static assets, the home page's figures (R4, R5, R28) and the lapsed-policy banner (R30)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy.orm import Session

from gongshu.kernel import timeutil
from gongshu.kernel.audit.service import record
from gongshu.kernel.identity.actor import SYSTEM
from gongshu.kernel.identity.service import create_organisation, create_user
from gongshu.kernel.workflow.models import Case, Step
from gongshu.web.app import create_app
from gongshu.web.pages import shell

URL = re.compile(r"https?://", re.I)


@pytest.fixture()
def client(db_clean: str) -> TestClient:
    shell.forget_policy_state()
    return TestClient(create_app())


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def _sample(text: str, route: str, status: str = "200") -> float:
    pattern = (
        rf'^gongshu_http_requests_total\{{method="GET",route="{re.escape(route)}",status="{status}"\}} (\S+)$'
    )
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


def test_r27_metrics_count_requests_by_route_template(client: TestClient) -> None:
    before = _sample(client.get("/metrics").text, "/healthz")
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page-8c1f")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "/healthz") == before + 2
    assert _sample(text, "<unmatched>", "404") >= 1
    assert "no-such-page-8c1f" not in text  # raw paths never become label values
    assert 'gongshu_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"' in text


def test_openapi_json(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "gongshu 公数 API"


def test_api_docs_use_only_vendored_files(client: TestClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.text
    assert '<script src="/static/vendor/swagger-ui-bundle.js">' in html
    assert 'href="/static/vendor/swagger-ui.css"' in html
    assert "'/openapi.json'" in html
    assert '"validatorUrl": null' in html
    assert not URL.search(html), "the docs page must not load anything from outside"


@pytest.mark.parametrize(
    ("path", "kind", "min_size"),
    [
        ("/static/vendor/htmx.min.js", "javascript", 20_000),
        ("/static/vendor/echarts.min.js", "javascript", 500_000),
        ("/static/vendor/swagger-ui-bundle.js", "javascript", 500_000),
        ("/static/vendor/swagger-ui.css", "css", 50_000),
        ("/static/css/gongshu.css", "css", 5_000),
        ("/static/js/charts.js", "javascript", 300),
        ("/static/img/favicon.svg", "svg", 100),
    ],
)
def test_static_files_served(client: TestClient, path: str, kind: str, min_size: int) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    assert len(response.content) >= min_size


def test_stylesheet_has_the_chinese_font_stack_and_sla_states(client: TestClient) -> None:
    css = client.get("/static/css/gongshu.css").text
    for font in ('"WenQuanYi Micro Hei"', '"Noto Sans CJK SC"', '"Microsoft YaHei"', "sans-serif"):
        assert font in css
    for cls in (".sla-on_time", ".sla-due_soon", ".sla-overdue", ".field-error", ".banner"):
        assert cls in css


def test_home_renders_in_chinese_then_english_by_cookie(client: TestClient) -> None:
    zh = client.get("/")
    assert zh.status_code == 200
    assert '<html lang="zh-CN">' in zh.text
    assert "公共数据资源平台</h1>" in zh.text
    assert 'data-testid="lang-switch"' in zh.text

    en = client.get("/?lang=en")
    assert '<html lang="en">' in en.text
    assert "Public Data Resource Platform</h1>" in en.text
    assert "公共数据资源平台</h1>" not in en.text
    assert "gs_lang=en" in en.headers["set-cookie"]

    again = client.get("/")  # the cookie keeps the choice
    assert '<html lang="en">' in again.text


def test_pages_load_no_script_or_style_from_outside(client: TestClient) -> None:
    html = client.get("/").text
    for attr in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
        assert attr.startswith("/static/"), attr


def _seed_cases(session: Session) -> None:
    create_organisation(session, code="auth", name_zh="市大数据局", kind="authority")
    create_organisation(session, code="d.police", name_zh="市公安局", kind="department")
    create_organisation(session, code="d.health", name_zh="市卫健委", kind="department")
    dept = create_user(
        session,
        username="li.wei",
        display_name="李伟",
        password="Passw0rd-123",
        org_code="d.police",
        roles=["data_officer"],
    )
    today = timeutil.today_china()
    org_id = dept.organisation_id
    for i, (kind, status, due) in enumerate(
        [
            ("sharing_application", "in_review", today - dt.timedelta(days=2)),
            ("sharing_application", "in_review", today + dt.timedelta(days=3)),
            ("objection", "returned", today + dt.timedelta(days=1)),
            ("objection", "approved", None),
        ]
    ):
        case = Case(
            number=f"GS-T-{i}",
            kind=kind,
            policy_version_id="xiamen-2023",
            title=f"事项{i}",
            status=status,
            applicant_org_id=org_id,
        )
        session.add(case)
        session.flush()
        session.add(
            Step(
                case_id=case.id,
                seq=1,
                name="review",
                assignee_org_id=org_id,
                assignee_role="reviewer",
                state="active" if due else "done",
                due_on=due,
            )
        )
    session.commit()


def _figure(html: str, testid: str) -> int:
    found = re.search(rf'data-testid="{testid}"><span class="figure-value">(\d+)<', html)
    assert found, testid
    return int(found.group(1))


def test_r28_home_figures_come_from_the_database(client: TestClient, session: Session) -> None:
    html = client.get("/").text
    assert 'data-testid="fig-users"' not in html  # the platform's internal figures are for its staff only

    _seed_cases(session)
    staff, _ = page_client("li.wei", session=session)
    html = staff.get("/").text
    assert _figure(html, "fig-organisations") == 3
    assert _figure(html, "fig-users") == 1
    assert _figure(html, "fig-open-cases") == 3  # the approved case is closed
    assert _figure(html, "fig-overdue") == 1
    assert _figure(html, "fig-audit-today") >= 4  # three organisations and a user, each audited
    assert "政务部门" in html  # organisations by kind, labelled in Chinese
    chart = re.search(r'<script type="application/json" id="chart-cases-by-kind">(.*?)</script>', html, re.S)
    assert chart
    option = json.loads(chart.group(1))
    assert option["series"][0]["data"] == [2, 2]
    assert len(option["yAxis"]["data"]) == 2
    assert all(label and not label.isascii() for label in option["yAxis"]["data"])  # policy labels in zh


def test_r28_audit_entries_today_counts_only_today(client: TestClient, session: Session) -> None:
    timeutil.freeze(dt.datetime(2024, 6, 3, 10, 0))
    create_organisation(session, code="d.police", name_zh="市公安局", kind="department")
    create_user(
        session,
        username="li.wei",
        display_name="李伟",
        password="Passw0rd-123",
        org_code="d.police",
        roles=["data_officer"],
    )
    record(session, SYSTEM, "test.yesterday")
    session.commit()
    timeutil.freeze(dt.datetime(2024, 6, 4, 10, 0))
    record(session, SYSTEM, "test.today")
    record(session, SYSTEM, "test.today")
    session.commit()
    staff, _ = page_client("li.wei", session=session)  # starting a session writes no audit entry
    assert _figure(staff.get("/").text, "fig-audit-today") == 2


def test_r30_lapsed_policy_banner_on_every_page(client: TestClient, session: Session) -> None:
    """R30: the authority's staff see the banner on every page while the regulation has lapsed; anonymous
    visitors do not (test_r30_policy_banner_audience: who else)."""
    create_organisation(session, code="authority", name_zh="市大数据管理局", kind="authority")
    create_user(
        session,
        username="bd.reviewer",
        display_name="审核员",
        password="Passw0rd-123",
        org_code="authority",
        roles=["reviewer"],
    )
    session.commit()
    staff, _ = page_client("bd.reviewer", session=session)
    timeutil.freeze(dt.datetime(2024, 6, 4, 10, 0))  # inside the shipped version's period
    shell.forget_policy_state()
    html = staff.get("/").text
    assert 'data-testid="policy-lapsed"' not in html
    assert "现行有效" in client.get("/").text

    timeutil.freeze(dt.datetime(2026, 3, 2, 10, 0))  # after 2025-12-27: carried on, lapsed
    shell.forget_policy_state()
    html = staff.get("/").text
    assert 'data-testid="policy-lapsed"' in html
    assert "2025-12-27" in html
    inbox = staff.get("/inbox").text  # another area's page shows it too
    assert 'data-testid="policy-lapsed"' in inbox
    assert 'data-testid="policy-lapsed"' not in client.get("/").text  # not for anonymous visitors
    assert 'data-testid="policy-lapsed"' not in client.get("/login").text
    assert "policy_lapsed" not in client.get("/healthz").text


def test_vendored_assets_are_documented() -> None:
    vendor = Path(__file__).resolve().parent.parent / "gongshu" / "web" / "static" / "vendor"
    readme = (vendor / "README.md").read_text(encoding="utf-8")
    for name in ("htmx.min.js", "echarts.min.js", "swagger-ui-bundle.js", "swagger-ui.css"):
        assert (vendor / name).is_file() and name in readme
    assert len(list((vendor / "licenses").glob("*LICENSE*"))) >= 3


def test_serve_initialises_the_database_and_runs_the_app_factory(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from gongshu.cli import app

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    result = CliRunner().invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123/" in result.output
    [(args, kwargs)] = calls
    assert args == ("gongshu.web.app:create_app",)
    assert kwargs == {
        "factory": True,
        "host": "127.0.0.1",
        "port": 8123,
        "log_level": None,  # uvicorn's own default
        "access_log": True,
    }
