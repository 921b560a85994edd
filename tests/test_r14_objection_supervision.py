"""R14 R28, after the user test of objections: the authority saw objections only through its notifications.
Now it supervises them on one page (`/data/objections`): the open objections across the providers with
their case, resource, provider, item, day filed, the open step's due day on the working-day clock and where
it stands, overdue first, narrowed by provider and state, with the counts at the top (open, due soon,
overdue, rulings awaiting execution); a provider's data officers see their own organisation's only, and
nobody else sees any. The provider's handling page shows the objector's evidence, the due day and the
state, and after a correction the corrected value with the value before. A refused objection offers the
objector a review of the provider's reply by the authority (R14 R28), not a sharing dispute (R15 R17)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import marriage
from page_fixtures import page_client
from sqlalchemy.orm import Session
from store_fixtures import EVIDENCE_PDF, HEADER, IDS, ITEMS, dispute_city, write

from gongshu.aggregation.ingest import ingest_file
from gongshu.catalog import service as catalog
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import Forbidden
from gongshu.kernel.timeutil import freeze
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.models import Case
from gongshu.quality import objection_board, objections

CHINA = dt.timezone(dt.timedelta(hours=8))


def _at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=CHINA)


# Filed Monday 2025-11-03: the provider's reply is due Monday 11-10 (five working days); filed 11-04, due
# 11-11; filed 11-10, due 11-17. The list is read on Tuesday 2025-11-11 at 09:00.
VIEWED = _at("2025-11-11", 9)


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    """The dispute city (civil affairs' marriage records about the citizen), and the public security
    bureau's household records about the citizen too: two providers of data the citizen may object to."""
    out = dispute_city(session, tmp_path, db_clean)
    entry = catalog.create_draft(
        session,
        out["police_officer"],
        marriage(
            items=ITEMS, name="户籍信息", name_en="Household registration", category_code="A02-01-01-01"
        ),
    )
    case = catalog.submit_for_review(session, out["police_officer"], entry.id)
    engine.decide(session, out["reviewer"], case.id, "approve")
    session.commit()
    out["police_code"] = entry.resource_code
    text = HEADER + "\n" + f"{IDS[0]},张零,2024-01-01,1,10.5,true\n"
    ingest_file(out["police_clerk"], entry.resource_code, write(tmp_path, "h.csv", text), url=db_clean)
    return out


def _file(c: dict[str, Any], at: dt.datetime, field: str, value: str, code: str | None = None) -> int:
    freeze(at)
    with session_scope() as s:
        return objections.file_objection(
            s,
            c["citizen"],
            code or c["code"],
            field=field,
            claimed_value=value,
            reason="登记有误",
            evidence=("户口簿.pdf", EVIDENCE_PDF),
        ).id


def _refuse_and_dispute(c: dict[str, Any], case_id: int) -> None:
    with session_scope() as s:
        objections.reject_objection(s, c["civil_clerk"], case_id, "以档案记载为准")
    with session_scope() as s:
        engine.escalate(s, c["citizen"], case_id, "请主管部门复核")


def _city_of_objections(c: dict[str, Any]) -> dict[str, int]:
    """overdue: civil affairs, filed 11-03 (due 11-10); due_soon: civil affairs, filed 11-04 (due 11-11);
    disputed: civil affairs, filed and refused 11-03, with the authority's coordination (10 working days:
    due 11-17); police: public security, filed 11-10 (due 11-17); ruled: upheld by the coordinator on 11-03,
    its correction due 11-10 and not executed (a ruling awaiting execution, overdue)."""
    ids = {"overdue": _file(c, _at("2025-11-03"), "full_name", "章零")}
    ids["disputed"] = _file(c, _at("2025-11-03", 11), "children", "2")
    _refuse_and_dispute(c, ids["disputed"])
    ids["ruled"] = _file(c, _at("2025-11-03", 12), "allowance", "20.5")
    _refuse_and_dispute(c, ids["ruled"])
    with session_scope() as s:
        engine.decide(s, c["coordinator"], ids["ruled"], "approve", "证明材料充分，异议成立")
    ids["due_soon"] = _file(c, _at("2025-11-04"), "registered_on", "2024-02-01")
    ids["police"] = _file(c, _at("2025-11-10"), "full_name", "章零", c["police_code"])
    freeze(VIEWED)
    return ids


def _numbers(ids: dict[str, int]) -> dict[str, str]:
    with read_scope() as s:
        return {k: s.get(Case, v).number for k, v in ids.items()}  # type: ignore[union-attr]


def _rows(html: str) -> list[str]:
    return re.findall(r'data-testid="objection-row" data-case="([^"]+)"', html)


def _row(html: str, number: str) -> str:
    start = html.index(f'data-testid="objection-row" data-case="{number}"')
    return html[start : html.index("</tr>", start)]


def _count(html: str, name: str) -> int:
    found = re.search(rf'data-testid="count-{name}"><span class="figure-value">(\d+)<', html)
    assert found is not None, name
    return int(found.group(1))


def test_r28_the_authority_supervises_open_objections_across_providers_overdue_first(
    c: dict[str, Any],
) -> None:
    ids = _city_of_objections(c)
    n = _numbers(ids)
    reviewer = page_client("reviewer")[0]
    resp = reviewer.get("/data/objections")
    assert resp.status_code == 200
    page = resp.text
    assert "<h1>数据异议与裁定</h1>" in page and 'data-testid="nav-objections"' in page
    assert 'href="/data/rulings"' in page and 'data-testid="nav-rulings"' not in page  # one menu entry
    # overdue first, then by due day (the disputed one before the police's: same due day, filed earlier)
    assert _rows(page) == [n["overdue"], n["due_soon"], n["disputed"], n["police"]]
    assert n["ruled"] not in _rows(page)  # closed by its ruling: counted among the rulings instead
    assert (_count(page, "open"), _count(page, "due_soon"), _count(page, "overdue")) == (4, 1, 1)
    assert _count(page, "rulings") == 1 and "其中 1 项已超期" in page

    overdue = _row(page, n["overdue"])
    assert (
        f'<a href="/cases/{ids["overdue"]}" data-testid="objection-case-link">{n["overdue"]}</a>' in overdue
    )
    assert 'data-sla="overdue" data-stage="handling"' in overdue
    assert "婚姻登记信息" in overdue and 'data-testid="objection-provider">市民政局<' in overdue
    assert "<td>姓名</td>" in overdue and '<td class="nowrap">2025-11-03</td>' in overdue
    assert '<span class="nowrap">2025-11-10</span>' in overdue and 'data-sla="overdue">已超期<' in overdue
    assert 'data-testid="days-left">-1<' in overdue and "数据提供单位核实处理" in overdue
    soon = _row(page, n["due_soon"])
    assert '<span class="nowrap">2025-11-11</span>' in soon and 'data-sla="due_soon">即将到期<' in soon
    assert 'data-testid="days-left">0<' in soon and "<td>登记日期</td>" in soon
    disputed = _row(page, n["disputed"])
    assert 'data-stage="disputed"' in disputed and "主管部门协调" in disputed
    assert '<span class="nowrap">2025-11-17</span>' in disputed and 'data-sla="on_time">正常<' in disputed
    police = _row(page, n["police"])
    assert "户籍信息" in police and 'data-testid="objection-provider">市公安局<' in police
    assert '<span class="nowrap">2025-11-17</span>' in police and 'data-testid="days-left">4<' in police
    assert "/data/objections/" not in page  # the authority supervises; the provider handles
    assert IDS[0] not in page  # the record's key (an ID number) is personal data: not on the list

    # narrowed by provider: the counts follow the provider; by state: the rows only
    police_id = c["police"].id
    page = reviewer.get(f"/data/objections?provider={police_id}").text
    assert _rows(page) == [n["police"]]
    assert (_count(page, "open"), _count(page, "overdue"), _count(page, "rulings")) == (1, 0, 0)
    assert f'<option value="{police_id}" selected>市公安局</option>' in page
    page = reviewer.get("/data/objections?state=overdue").text
    assert _rows(page) == [n["overdue"]] and _count(page, "open") == 4
    assert _rows(reviewer.get("/data/objections?state=due_soon").text) == [n["due_soon"]]
    page = reviewer.get(f"/data/objections?provider={c['civil'].id}&state=on_time").text
    assert _rows(page) == [n["disputed"]]
    # a filter that means nothing shows everything, never an error
    assert len(_rows(reviewer.get("/data/objections?provider=x&state=late").text)) == 4

    english = page_client("reviewer", "en")[0].get("/data/objections").text
    assert "<h1>Objections and rulings</h1>" in english and "Open objections" in english
    assert 'data-sla="overdue">Overdue<' in english and 'data-sla="due_soon">Due soon<' in english
    assert "Civil Affairs Bureau" in english and "Marriage registration" in english
    assert "Authority coordination" in english and "Provider handling" in english
    assert "1 overdue" in english and "Rulings awaiting execution" in english


def test_r28_a_provider_sees_its_own_objections_and_nobody_else_any(c: dict[str, Any]) -> None:
    ids = _city_of_objections(c)
    n = _numbers(ids)
    civil = page_client("civil_clerk")[0].get("/data/objections")
    assert civil.status_code == 200
    assert _rows(civil.text) == [n["overdue"], n["due_soon"], n["disputed"]]
    assert _count(civil.text, "rulings") == 1 and n["police"] not in civil.text
    # the provider's officers handle their objections (not one on the dispute chain) on the handling page
    assert f'href="/data/objections/{ids["overdue"]}"' in civil.text
    assert f'href="/data/objections/{ids["due_soon"]}"' in civil.text
    assert f'href="/data/objections/{ids["disputed"]}"' not in civil.text

    police_clerk = page_client("police_clerk")[0]
    own = police_clerk.get("/data/objections").text
    assert _rows(own) == [n["police"]] and _count(own, "rulings") == 0
    assert not any(n[k] in own for k in ("overdue", "due_soon", "disputed", "ruled"))
    # asking for another department's objections shows none of them, nor names that department
    other = police_clerk.get(f"/data/objections?provider={c['civil'].id}")
    assert other.status_code == 200 and _rows(other.text) == []
    assert _count(other.text, "open") == 0 and _count(other.text, "rulings") == 0
    assert "市民政局" not in other.text and not any(number in other.text for number in n.values())

    # the objector and an officer without a data role: refused, nothing shown, no menu entry
    for who in ("citizen", "police_officer"):
        client = page_client(who)[0]
        refused = client.get("/data/objections")
        assert refused.status_code == 403, who
        assert not any(number in refused.text for number in n.values()), who
        assert 'data-testid="nav-objections"' not in client.get("/").text, who
    with read_scope() as s, pytest.raises(Forbidden):
        objection_board.board(s, c["citizen"])


# ---- the provider's handling page (R14) ------------------------------------------------------------------


def test_r14_handling_page_shows_evidence_due_day_state_and_the_corrected_value(c: dict[str, Any]) -> None:
    case_id = _file(c, _at("2025-11-03"), "full_name", "章零")
    freeze(_at("2025-11-10", 9))
    officer = page_client("civil_clerk")[0]
    page = officer.get(f"/data/objections/{case_id}").text
    evidence = re.search(r'href="(/cases/\d+/attachments/\d+)" data-testid="evidence-link">户口簿.pdf<', page)
    assert evidence is not None  # the objector's evidence, linked as the case page links it
    got = officer.get(evidence.group(1))
    assert got.status_code == 200 and got.content == EVIDENCE_PDF
    assert 'data-testid="case-status" data-status="in_review">审核中<' in page
    due = page[page.index('data-testid="objection-due"') :]
    assert due.startswith('data-testid="objection-due" data-sla="due_soon"')
    assert '<span class="nowrap">2025-11-10</span>' in due and 'data-sla="due_soon">即将到期<' in due
    assert "数据提供单位核实处理 · 5 个工作日" in due
    assert 'data-testid="objection-current">张0<' in page and "objection-before" not in page

    objections.correct_record(c["civil_clerk"], case_id, note="核对户籍档案")
    page = officer.get(f"/data/objections/{case_id}").text
    assert '<dt>更正后的值</dt><dd data-testid="objection-current">章零<' in page
    assert '<dt>更正前的值</dt><dd data-testid="objection-before">张0<' in page
    assert "<dt>现有记录值</dt>" not in page  # the record still holds the corrected value
    assert 'data-status="approved"' in page and 'data-testid="objection-due"' not in page
    english = page_client("civil_clerk", "en")[0].get(f"/data/objections/{case_id}").text
    assert '<dt>Corrected value</dt><dd data-testid="objection-current">章零<' in english
    assert '<dt>Value before the correction</dt><dd data-testid="objection-before">张0<' in english
    assert "户口簿.pdf" in english


def test_r14_handling_page_of_an_executed_ruling_shows_the_ruled_value_and_the_value_before(
    c: dict[str, Any],
) -> None:
    case_id = _file(c, _at("2025-11-03"), "children", "2")
    _refuse_and_dispute(c, case_id)
    officer = page_client("civil_clerk")[0]
    page = officer.get(f"/data/objections/{case_id}").text
    assert 'data-testid="objection-due" data-sla="on_time"' in page and "主管部门协调" in page
    with session_scope() as s:
        engine.decide(s, c["coordinator"], case_id, "approve", "证明材料充分，异议成立")
    objections.execute_ruling(c["civil_clerk"], case_id)
    page = officer.get(f"/data/objections/{case_id}").text
    assert '<dt>更正后的值</dt><dd data-testid="objection-current">2<' in page
    assert '<dt>更正前的值</dt><dd data-testid="objection-before">1<' in page


# ---- the objector's offer against a refusal (R14 R28) ------------------------------------------------------


def _dispute_card(html: str) -> str:
    start = html.index('data-testid="dispute-form"')
    return html[start : html.index("</section>", start)]


def test_r14_a_refused_objection_offers_a_review_by_the_authority_citing_r14_r28(c: dict[str, Any]) -> None:
    case_id = _file(c, _at("2025-11-03"), "full_name", "章零")
    with session_scope() as s:
        objections.reject_objection(s, c["civil_clerk"], case_id, "以档案记载为准")
    person, csrf = page_client("citizen")
    card = _dispute_card(person.get(f"/cases/{case_id}").text)
    assert 'data-testid="dispute-heading">申请主管部门复核<' in card
    assert 'data-testid="dispute-articles">R14, R28<' in card and "R15" not in card and "R17" not in card
    assert "复核" in card and ">申请复核</button>" in card
    english = _dispute_card(page_client("citizen", "en")[0].get(f"/cases/{case_id}").text)
    assert "Ask the authority to review the provider&#39;s reply" in english
    assert "R14, R28" in english and "R15" not in english and ">Request a review</button>" in english

    sent = person.post(f"/cases/{case_id}/dispute", data={"csrf_token": csrf, "reasons": "答复有误，请复核"})
    assert sent.status_code == 200  # followed to the case page
    assert "复核申请已提交：主管部门协调。" in sent.text
    # the coordinator's reasons hint: the authority reviews the provider's reply (R14 R28)
    hint = page_client("coordinator")[0].get(f"/cases/{case_id}").text
    assert "R14、R28：主管部门复核数据提供单位的答复" in hint and "R15、R17" not in hint
