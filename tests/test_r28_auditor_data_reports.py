"""R28 (R26–R27): the authority supervises aggregation — its auditors (and the operator's) read, without
acting, what the authority's reviewer reads: data freshness, the quality scores and a resource's quality
report, a resource's batches and a batch's report; a department's auditor reads its own department's.
Read access comes from the access decision point (Action.DATA_REPORTS_READ); acting (an upload) stays
refused with a stable code, and the pages link an action only for those who may take it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import org, user
from page_fixtures import page_client
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.access.policy import ROLE_PERMISSIONS, Action
from gongshu.kernel.access.service import decide
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import OrgKind, Role
from gongshu.quality import recheck

BAD_ROW = "110101199003070000,坏号,2024-01-02,0,1,是"  # a wrong check character: refused at load


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    out = store_city(session)
    operator = org(session, "info_center", "operator", "市信息中心", "Information Centre")
    out["operator"] = operator
    user(session, "authority_auditor", out["authority"], "auditor")
    user(session, "operator_auditor", operator, "auditor")
    user(session, "civil_auditor", out["civil"], "auditor")
    user(session, "police_auditor", out["police"], "auditor")
    session.commit()
    out["code"] = publish(session, out).resource_code
    rows = [f"{IDS[0]},张三,2024-01-02,1,2.5,是", BAD_ROW]
    report = ingest_file(
        out["civil_clerk"], out["code"], write(tmp_path, "d.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    )
    out["batch_id"] = report["id"]
    from gongshu.kernel.db import session_scope

    with session_scope() as s:
        recheck.recheck(s, out["code"])
    return out


@pytest.mark.parametrize("auditor", ["authority_auditor", "operator_auditor"])
def test_r28_the_platform_auditors_read_what_the_reviewer_reads(c: dict[str, Any], auditor: str) -> None:
    code = c["code"]
    client, _ = page_client(auditor)
    fresh = client.get("/data/freshness")
    assert fresh.status_code == 200 and f'data-resource="{code}"' in fresh.text
    assert 'data-testid="freshness-empty"' not in fresh.text
    quality = client.get("/data/quality")
    assert quality.status_code == 200 and f'data-resource="{code}"' in quality.text
    assert 'data-score="50.0"' in quality.text  # 1 of 2 rows refused, the stored one clean
    report = client.get(f"/data/quality/{code}")
    assert report.status_code == 200 and 'data-testid="quality-breakdown"' in report.text
    listing = client.get(f"/data/{code}/batches")
    assert listing.status_code == 200 and f'data-batch="{c["batch_id"]}"' in listing.text
    batch = client.get(f"/data/batches/{c['batch_id']}")
    assert batch.status_code == 200 and 'data-testid="batch-report"' in batch.text
    home = client.get("/data")
    assert home.status_code == 200 and f'data-resource="{code}"' in home.text
    reviewer, _ = page_client("reviewer")
    assert f'data-resource="{code}"' in reviewer.get("/data/freshness").text  # the same rows


def test_r28_an_auditor_may_not_act(c: dict[str, Any]) -> None:
    code = c["code"]
    for auditor in ("authority_auditor", "operator_auditor", "civil_auditor"):
        client, csrf = page_client(auditor)
        form = client.get(f"/data/{code}/upload")
        assert form.status_code == 403 and "access.no_role" in form.text, auditor
        posted = client.post(
            f"/data/{code}/upload",
            data={"csrf_token": csrf, "mode": "full"},
            files={"file": ("d.csv", (HEADER + "\n").encode(), "text/csv")},
        )
        assert posted.status_code == 403 and "access.no_role" in posted.text, auditor
        assert client.get(f"/data/{code}/sources").status_code == 403, auditor
        listing = client.get(f"/data/{code}/batches")
        assert listing.status_code == 200 and 'data-testid="data-upload-link"' not in listing.text
        assert f'href="/data/{code}/upload"' not in client.get("/data").text


def test_r28_a_department_auditor_reads_its_own_department_only(c: dict[str, Any]) -> None:
    code = c["code"]
    civil, _ = page_client("civil_auditor")
    assert f'data-resource="{code}"' in civil.get("/data/freshness").text
    quality = civil.get("/data/quality")
    assert quality.status_code == 200 and f'data-resource="{code}"' in quality.text
    assert civil.get(f"/data/quality/{code}").status_code == 200
    assert civil.get(f"/data/{code}/batches").status_code == 200
    police, _ = page_client("police_auditor")
    assert f'data-resource="{code}"' not in police.get("/data/freshness").text
    quality = police.get("/data/quality")
    assert quality.status_code == 200 and f'data-resource="{code}"' not in quality.text
    refused = police.get(f"/data/quality/{code}")
    assert refused.status_code == 403 and "quality.resource_forbidden" in refused.text
    refused = police.get(f"/data/{code}/batches")
    assert refused.status_code == 403 and "store.batches_forbidden" in refused.text
    assert police.get(f"/data/batches/{c['batch_id']}").status_code == 403


def test_r28_an_auditor_sees_the_batch_report_without_the_refused_rows(c: dict[str, Any]) -> None:
    """The refused rows are the data as received (personal data): the store gives them to the provider
    and the authority's supervisors; the auditor reads the report and how many cells were refused."""
    auditor, _ = page_client("authority_auditor")
    page = auditor.get(f"/data/batches/{c['batch_id']}")
    assert page.status_code == 200 and 'data-testid="batch-quarantine-withheld"' in page.text
    assert "110101199003070000" not in page.text
    clerk, _ = page_client("civil_clerk")
    assert "110101199003070000" in clerk.get(f"/data/batches/{c['batch_id']}").text


def test_r28_the_reviewer_is_not_shown_an_upload_link_that_refuses_them(c: dict[str, Any]) -> None:
    code = c["code"]
    reviewer, _ = page_client("reviewer")
    listing = reviewer.get(f"/data/{code}/batches")
    assert listing.status_code == 200 and 'data-testid="data-upload-link"' not in listing.text
    assert reviewer.get(f"/data/{code}/upload").status_code == 403  # the link would have led here
    home = reviewer.get("/data")
    assert f'data-resource="{code}"' in home.text and f'href="/data/{code}/upload"' not in home.text
    assert f'href="/data/{code}/sources"' not in home.text
    clerk, _ = page_client("civil_clerk")
    assert 'data-testid="data-upload-link"' in clerk.get(f"/data/{code}/batches").text
    assert f'href="/data/{code}/upload"' in clerk.get("/data").text


def _actor(org: Any, role: str) -> Actor:
    return Actor(user_id=1, username="t", org_id=org.id, org_kind=org.kind, roles=frozenset({(org.id, role)}))


def test_r28_reading_the_reports_keeps_every_earlier_reader_and_adds_only_auditors(
    session: Session, c: dict[str, Any]
) -> None:
    """Whoever could read the reports before (DATA_INGEST for the provider, SUPERVISE for all) still can,
    over at least the same organisations; the auditor reads them and holds no acting permission here."""
    orgs = {
        OrgKind.AUTHORITY: c["authority"],
        OrgKind.OPERATOR: c["operator"],
        OrgKind.DEPARTMENT: c["civil"],
    }
    for role in Role:
        for o in orgs.values():
            actor = _actor(o, role.value)
            reads = decide(session, actor, Action.DATA_REPORTS_READ)
            for before in (Action.DATA_INGEST, Action.SUPERVISE):
                earlier = decide(session, actor, before)
                if earlier.allowed:
                    assert reads.allowed, (role, o.code, before)
                    assert reads.org_scope is None or (
                        earlier.org_scope is not None and earlier.org_scope <= reads.org_scope
                    ), (role, o.code, before)
    for o in orgs.values():
        auditor = _actor(o, "auditor")
        assert decide(session, auditor, Action.DATA_REPORTS_READ).allowed
        for acting in (Action.DATA_INGEST, Action.DATA_MANAGE, Action.SUPERVISE, Action.CATALOG_REVIEW):
            assert not decide(session, auditor, acting).allowed
    platform = decide(session, _actor(c["authority"], "auditor"), Action.DATA_REPORTS_READ)
    department = decide(session, _actor(c["civil"], "auditor"), Action.DATA_REPORTS_READ)
    assert platform.org_scope is None and department.org_scope == frozenset({c["civil"].id})
    read_only = {Action.AUDIT_READ, Action.DATA_REPORTS_READ, Action.BASE_COVERAGE_READ}
    assert {p.action for p in ROLE_PERMISSIONS[Role.AUDITOR]} == read_only


def test_r28_the_batch_and_quality_pages_word_their_counts_for_data(
    session: Session, c: dict[str, Any]
) -> None:
    """A word shared with another area's catalog must not leak its meaning here: a batch's accepted rows
    are "接收", not an IT project's "已通过验收核查"; a resource never re-checked is "尚未复查"."""
    unchecked = publish(session, c, name="婚姻登记补充信息").resource_code
    zh, _ = page_client("civil_clerk", "zh")
    listing = zh.get(f"/data/{c['code']}/batches").text
    report = zh.get(f"/data/batches/{c['batch_id']}").text
    for page in (listing, report):
        assert '<th class="num">接收</th>' in page or "<th>接收</th>" in page
        assert "验收" not in page
    quality = zh.get("/data/quality").text
    row = quality[quality.index(f'data-resource="{unchecked}"') :]
    assert "尚未复查" in row[: row.index("</tr>")] and "暂不具备" not in quality
    en, _ = page_client("civil_clerk", "en")
    assert "Accepted rows" in en.get(f"/data/batches/{c['batch_id']}").text
    assert "Not re-checked yet" in en.get("/data/quality").text


def test_r28_the_menu_offers_the_reports_to_their_readers_only(c: dict[str, Any]) -> None:
    """The menu links the data pages to whoever may read the reports (the authority's auditor too), not to
    a catalog officer, who would meet a refusal; a person's menu has no inbox (they handle no step)."""
    auditor = page_client("authority_auditor")[0].get("/").text
    for testid in ("nav-data", "nav-freshness", "nav-quality"):
        assert f'data-testid="{testid}"' in auditor
    officer = page_client("civil_officer")[0].get("/").text
    assert 'data-testid="nav-quality"' not in officer and 'data-testid="nav-data"' not in officer
    assert 'data-testid="nav-inbox"' in officer and 'data-testid="nav-catalog-mine"' in officer
    assert 'data-testid="nav-catalog-mine"' not in auditor  # only those who compile the catalog
    cases = page_client("civil_officer")[0].get("/cases?status=draft").text  # drafts are not cases
    assert 'href="/catalog/mine" data-testid="cases-catalog-drafts"' in cases
    citizen = page_client("citizen")[0].get("/").text
    assert 'data-testid="nav-inbox"' not in citizen and 'data-testid="nav-my-data"' in citizen
