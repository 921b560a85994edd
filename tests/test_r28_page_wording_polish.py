"""R28 (pages the user test found wanting): who sees the lapsed-regulation banner (R30); refusals name the
action in words, not its code (R5); decisions needing reasons are worded as their buttons (R14 R17); the
base data labels read whole and the providers joined in the page's language (R11 R12); a resource without
an English name shows its name once (R9); the upload form's full-load confirmation and its notes (R7)."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import org, user
from fastapi.testclient import TestClient
from page_fixtures import page_client
from sqlalchemy import update
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, objection_city, publish, store_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.aggregation.upload import require_full_confirmation
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel import timeutil
from gongshu.kernel.access.labels import ACTION_LABELS
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.errors import Forbidden, ValidationFailed
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.workflow import engine
from gongshu.web.app import create_app
from gongshu.web.pages import shell


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return store_city(session)


@pytest.fixture()
def code(session: Session, c: dict[str, Any]) -> str:
    out = publish(session, c).resource_code
    session.rollback()
    return out


BANNER = 'data-testid="policy-lapsed"'


def test_r30_policy_banner_audience(session: Session, c: dict[str, Any]) -> None:
    """R30 R5: while the regulation has lapsed, its banner is for the authority's staff and the
    administrators who load policies — not for anonymous visitors, the public or the departments' staff."""
    operator = org(session, "info_center", "operator", "市信息中心", "Information Center")
    user(session, "op_admin", operator, "admin")
    user(session, "op_prereview", operator, "pre_reviewer")
    session.commit()
    timeutil.freeze(dt.datetime(2026, 3, 2, 10, 0))  # after 2025-12-27: the 2023 measures carried on
    shell.forget_policy_state()
    try:
        seen = {
            name: BANNER in page_client(name, session=session)[0].get("/").text
            for name in ("reviewer", "op_admin", "op_prereview", "civil_clerk", "civil_officer", "citizen")
        }
        anonymous = TestClient(create_app())
        seen["anonymous"] = BANNER in anonymous.get("/").text or BANNER in anonymous.get("/login").text
    finally:
        shell.forget_policy_state()
    assert seen == {
        "reviewer": True,  # the authority's staff
        "op_admin": True,  # the operator's administrator loads the successor policy
        "op_prereview": False,
        "civil_clerk": False,
        "civil_officer": False,
        "citizen": False,
        "anonymous": False,
    }


def test_r5_a_refusal_names_the_action_in_words(session: Session, c: dict[str, Any], code: str) -> None:
    """R5 R28: "Your account may not aggregate data …", never "may not perform data.ingest"; the code of
    the refusal stays, on the error page's small "Error code" line."""
    assert set(ACTION_LABELS) >= {a.value for a in Action}  # every action has its words
    with pytest.raises(Forbidden) as err:
        require(session, c["citizen"], Action.DATA_MANAGE)
    assert err.value.code == "access.no_role"
    assert err.value.message("en") == (
        "Your account may not manage its organisation's data (quality rules, corrections, service interfaces, seals)"
    )
    assert "管理本单位的数据" in err.value.message("zh") and "data.manage" not in err.value.message("zh")
    for lang, words in (("en", "Your account may not aggregate data"), ("zh", "当前账号没有“汇聚数据")):
        citizen, _ = page_client("citizen", lang, session=session)
        page = citizen.get(f"/data/{code}/sources")
        assert page.status_code == 403
        message = page.text.split('data-testid="error-message">', 1)[1].split("</p>", 1)[0]
        assert words in unescape(message) and "data.ingest" not in page.text and "access." not in message
        assert 'data-testid="error-code">access.no_role</code>' in page.text


def test_r14_refusing_an_objection_without_reasons_is_worded_as_its_button(
    session: Session, tmp_path: Path, db_clean: str
) -> None:
    _city, case_id = objection_city(session, tmp_path, db_clean)
    for lang, words in (
        ("en", "“Refuse the objection” requires written reasons"),
        ("zh", "“不予更正”必须填写书面理由"),
    ):
        officer, csrf = page_client("civil_clerk", lang, session=session)
        sent = officer.post(
            f"/data/objections/{case_id}",
            data={"csrf_token": csrf, "action": "reject", "value": "", "reasons": ""},
            follow_redirects=False,
        )
        assert sent.status_code == 422 and words in sent.text, sent.text[-3000:]
        assert "Decision 'reject'" not in unescape(sent.text) and "Decision &#39;reject&#39;" not in sent.text


def test_r17_a_decision_needing_reasons_is_named_as_its_button(session: Session, c: dict[str, Any]) -> None:
    from catalog_fixtures import marriage

    from gongshu.catalog import service as catalog

    entry = catalog.create_draft(session, c["civil_officer"], marriage())
    case = catalog.submit_for_review(session, c["civil_officer"], entry.id)
    with pytest.raises(ValidationFailed) as err:
        engine.decide(session, c["reviewer"], case.id, "reject", "")
    assert err.value.code == "workflow.reasons_required"
    assert err.value.message("en") == "“Reject” requires written reasons"
    assert err.value.message("zh") == "“不予通过”必须填写书面理由"


def test_r12_base_data_labels_read_whole_and_providers_joined_in_the_page_language(
    session: Session, c: dict[str, Any]
) -> None:
    """R11 R12: an English label with commas, written unquoted in the shipped policy's YAML, reads whole
    (the stored version unchanged); a base resource's providers are joined with "、" in Chinese and ", "
    in English."""
    pol = policy_service.at(session, dt.date(2024, 6, 1))  # read back from the stored version
    labels = {br.code: br.english() for kind in pol.doc.base_data.values() for br in kind}
    assert labels["nonprofit"] == "Non-profits (private non-enterprise units, social groups, foundations)"
    assert labels["population_registration"] == "Population registration, changes and cancellation"
    assert labels["marriage"] == "Marriage registration"
    assert (
        pol.label("open_condition_kinds", "technical_capacity", "en")
        == "Technical capacity (facilities, staff)"
    )
    org(session, "education", "department", "市教育局", "Education Bureau")
    org(session, "hrss", "department", "市人力资源和社会保障局", "Human Resources and Social Security Bureau")
    session.commit()
    reviewer, _ = page_client("reviewer", "en", session=session)
    page = unescape(reviewer.get("/data/base").text)
    assert "Non-profits (private non-enterprise units, social groups, foundations)</td>" in page
    assert "Population registration, changes and cancellation</td>" in page
    assert "Education Bureau, Human Resources and Social Security Bureau" in page and "Bureau、" not in page
    reviewer_zh, _ = page_client("reviewer", "zh", session=session)
    assert "市教育局、市人力资源和社会保障局" in reviewer_zh.get("/data/base").text


def test_r9_freshness_shows_a_resource_without_an_english_name_by_its_name(
    session: Session, c: dict[str, Any], code: str
) -> None:
    session.execute(update(CatalogEntry).where(CatalogEntry.resource_code == code).values(name_en=""))
    session.commit()
    reviewer, _ = page_client("reviewer", "en", session=session)
    page = reviewer.get("/data/freshness").text
    row = page.split(f'data-resource="{code}"', 1)[1].split("</td>", 1)[0]
    assert "婚姻登记信息" in row and row.count(code) == 1  # the name, then the code — not the code twice


def test_r7_upload_form_confirms_full_loads_only_and_asks_for_the_file_again(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """R7: the full-load confirmation is marked for the stylesheet, which shows it only while Full is
    chosen (without :has() it stays; the server asks for it only for a full load); after a check the form
    says plainly that the file must be chosen again; an XLSX check names no encoding; the refusal of an
    unconfirmed full load ends with a full stop."""
    from openpyxl import Workbook

    ingest_file(
        c["civil_clerk"], code, write(tmp_path, "m.csv", f"{HEADER}\n{IDS[0]},张三,2024-01-02,1,2.5,true\n")
    )
    officer, _ = page_client("civil_clerk", "en", session=session)
    form = officer.get(f"/data/{code}/upload").text
    assert re.search(r'<div class="field confirm-full" data-testid="data-confirm-full">', form)
    assert 'data-testid="data-file-again"' not in form
    css = officer.get("/static/css/gongshu.css").text
    assert (
        'form:has(select[name="mode"] option[value="full"]:not(:checked)) .confirm-full {\n  display: none;'
        in css
    )
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    sheet.append([IDS[1], "李四", "2024-01-02", 1, 2.5, True])
    book.save(tmp_path / "m.xlsx")
    for lang, again, fmt in (
        ("en", "Choose the file again to load it", "Nothing was stored. Format: xlsx."),
        ("zh", "请再次选择文件以入库", "未保存任何数据。格式：xlsx。"),
    ):
        client, token = page_client("civil_clerk", lang, session=session)
        checked = client.post(
            f"/data/{code}/upload",
            data={"csrf_token": token, "mode": "incremental", "action": "check"},
            files={"file": ("m.xlsx", (tmp_path / "m.xlsx").read_bytes())},
        )
        assert checked.status_code == 200 and 'data-testid="data-check-report"' in checked.text
        assert again in checked.text and fmt in checked.text and "Encoding: ;" not in checked.text
    with pytest.raises(ValidationFailed) as err:
        require_full_confirmation(code, "full", False)
    assert err.value.message("zh").endswith("请选择增量更新。") and err.value.message("en").endswith(
        "choose incremental."
    )


def test_r13_batch_page_uses_a_chinese_colon_in_chinese(
    session: Session, db_clean: str, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    rows = f"{HEADER}\n{IDS[0]},张三,2024-01-02,x,2.5,true\n{IDS[1]},李四,2024-01-02,1,2.5,true\n"
    bad = ingest_file(c["civil_clerk"], code, write(tmp_path, "b.csv", rows), mode="incremental")
    fixed = write(tmp_path, "f.csv", f"{HEADER}\n{IDS[0]},张三,2024-01-02,1,2.5,true\n")
    ingest_file(c["civil_clerk"], code, fixed, mode="incremental", resubmission_of=bad["id"])
    officer, _ = page_client("civil_clerk", "zh", session=session)
    page = officer.get(f"/data/batches/{bad['id']}").text
    assert "本批次的更正重新提交：" in page and "重新提交: " not in page


@pytest.mark.browser
def test_r28_wide_tables_scroll_in_their_card_and_the_full_confirmation_follows_the_mode(  # type: ignore[no-untyped-def]
    page, live_server: str, session: Session, c: dict[str, Any], code: str, tmp_path: Path
) -> None:
    """R28 in Chromium at 1366 px: a table wider than its card scrolls inside it (the page does not widen)
    and keeps its words whole (no "Administrati-on"); R7: the full-load confirmation shows only while
    Full is chosen."""
    from gongshu.kernel.identity import sessions
    from gongshu.kernel.identity.models import User

    ingest_file(
        c["civil_clerk"], code, write(tmp_path, "m.csv", f"{HEADER}\n{IDS[0]},张三,2024-01-02,1,2.5,true\n")
    )
    clerk = session.get(User, c["civil_clerk"].user_id)
    assert clerk is not None
    raw, _ = sessions.start_session(session, clerk, ip=None, user_agent="pytest", second_factor_done=True)
    session.commit()
    page.context.add_cookies([{"name": "gs_session", "value": raw, "url": live_server}])
    page.set_viewport_size({"width": 1366, "height": 900})

    page.goto(f"/data/{code}/upload")
    confirm = page.get_by_test_id("data-confirm-full")
    assert not confirm.is_visible()  # incremental, the page's default
    page.select_option("#data-mode", "full")
    assert confirm.is_visible()
    page.select_option("#data-mode", "incremental")
    assert not confirm.is_visible()

    page.goto(f"/data/{code}/batches")
    measured = page.evaluate(
        """() => {
        const row = document.querySelector('[data-testid=data-batches] tbody tr');
        for (let i = 0; i < 14; i++) {
            const td = document.createElement('td');
            td.textContent = 'Market Supervision Administration';
            row.appendChild(td);
        }
        const id = document.createElement('td');
        id.className = 'nowrap';
        id.textContent = '350200198503121216';
        row.appendChild(id);
        const lines = (el) => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length; };
        const wrap = document.querySelector('.table-wrap');
        const words = [...row.querySelectorAll('td')].filter(td => td.textContent.includes('Administration'));
        const longest = Math.max(...words.map(td => {
            const r = document.createRange(); r.selectNodeContents(td);
            return Math.max(...[...r.getClientRects()].map(b => b.width));
        }));
        return {
            page: document.documentElement.scrollWidth,
            wrap: [wrap.scrollWidth, wrap.clientWidth],
            idLines: lines(id),
            wordWidth: longest,
            administration: (() => { const s = document.createElement('span'); s.textContent = 'Administration';
                s.style.position = 'absolute'; s.style.whiteSpace = 'nowrap'; words[0].appendChild(s);
                const w = s.getBoundingClientRect().width; s.remove(); return w; })(),
        };
        }"""
    )
    assert measured["page"] <= 1366, measured  # the page keeps the screen's width
    assert measured["wrap"][0] > measured["wrap"][1], measured  # the table scrolls inside its card
    assert measured["idLines"] == 1, measured  # an identifier on one line
    assert measured["wordWidth"] >= measured["administration"] * 0.9, measured  # no word cut in two


def test_r28_every_action_of_the_decision_point_has_words() -> None:
    """R28: a refusal names the action in words in both languages — every action the access decision
    point knows has them (a new action without words would be told as "do this")."""
    from gongshu.kernel.access.labels import ACTION_LABELS
    from gongshu.kernel.access.policy import Action

    assert {a.value for a in Action} <= set(ACTION_LABELS)
    assert all(zh and en for zh, en in ACTION_LABELS.values())
