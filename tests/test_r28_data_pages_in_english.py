"""R28 R7 R9 R11 R12 R13: the data pages speak the page's language — column headings from the items' labels,
update cycles and data types by their labels, plain messages for a broken workbook and the column diff —
show numbers as entered and instants in China time, keep the ID number out of the page address, and the
quality page names its resource, refuses with its own message and shows the records held now."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from page_fixtures import page_client as _browser
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_fixtures import HEADER, IDS, ITEMS, publish, store_city, write

from gongshu.aggregation import basedata
from gongshu.aggregation.ingest import ingest_file
from gongshu.kernel.audit.models import AuditEntry
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.policy import service as policy_service
from gongshu.quality import recheck
from gongshu.store import service as store
from gongshu.web.render import china

# The store's items, one of them with an English label (the others have none: their name is shown).
LABELLED = [dict(i, label_en="Allowance") if i["name"] == "allowance" else dict(i) for i in ITEMS]
ROW = f"{IDS[0]},张三,2024-01-02,1,16110.53,true"


@pytest.fixture()
def c(session: Session, tmp_path: Path, db_clean: str) -> dict[str, Any]:
    out = store_city(session)
    out["code"] = publish(session, out, items=LABELLED).resource_code
    text = HEADER + "\n" + ROW + "\n"
    ingest_file(out["civil_clerk"], out["code"], write(tmp_path, "m.csv", text), url=db_clean)
    return out


def _headings(html: str, code: str) -> list[str]:
    section = html[html.index(f'data-resource="{code}"') :]
    head = section[section.index("<thead>") : section.index("</thead>")]
    return re.findall(r"<th>([^<]*)</th>", head)


def _reads() -> list[str | None]:
    """The objects of the base look-ups' audited reads, oldest first."""
    with read_scope() as s:
        stmt = select(AuditEntry.object_id).where(
            AuditEntry.action == "data.read", AuditEntry.object_type == "base_data"
        )
        return list(s.scalars(stmt.order_by(AuditEntry.seq)))


# ---- 1. the base look-ups and the coverage page -----------------------------------------------------------


def test_r28_person_lookup_headings_in_the_page_language_and_numbers_as_entered(c: dict[str, Any]) -> None:
    en, csrf = _browser("reviewer", "en")
    page = en.post("/data/base/person?lang=en", data={"id_number": IDS[0], "csrf_token": csrf})
    assert page.status_code == 200 and "张三" in page.text
    assert _headings(page.text, c["code"]) == [
        "id_number",
        "full_name",
        "registered_on",
        "children",
        "Allowance",
        "active",
    ]
    assert "身份证号码" not in page.text and "补助金额" not in page.text
    assert "<td>16110.53</td>" in page.text and "16110.530" not in page.text
    assert "<td>Yes</td>" in page.text and "<td>True</td>" not in page.text
    zh, csrf_zh = _browser("reviewer", "zh")
    page = zh.post("/data/base/person?lang=zh", data={"id_number": IDS[0], "csrf_token": csrf_zh})
    assert _headings(page.text, c["code"]) == [
        "身份证号码",
        "姓名",
        "登记日期",
        "子女数",
        "补助金额",
        "是否有效",
    ]


def test_r28_a_stored_decimal_is_shown_without_trailing_zeros() -> None:
    assert basedata.shown_value(Decimal("16110.5300000000")) == "16110.53"
    assert basedata.shown_value(Decimal("100.000")) == "100"  # never "1E+2"
    assert basedata.shown_value(Decimal("-0.00")) == "0"
    assert basedata.shown_value(None) == "" and basedata.shown_value(dt.date(2024, 1, 2)) == "2024-01-02"


def test_r28_the_id_number_is_posted_never_put_in_the_page_address(c: dict[str, Any]) -> None:
    client, csrf = _browser("reviewer")
    form = client.get("/data/base/person")
    assert form.status_code == 200 and 'method="post"' in form.text and csrf in form.text
    before = len(_reads())
    # an ID number in the address is not looked up (and nothing is read)
    old = client.get("/data/base/person", params={"id_number": IDS[0]})
    assert old.status_code == 200 and "张三" not in old.text and len(_reads()) == before
    # without the CSRF token the look-up is refused
    assert client.post("/data/base/person", data={"id_number": IDS[0]}).status_code == 403
    hit = client.post("/data/base/person", data={"id_number": IDS[0], "csrf_token": csrf})
    assert hit.status_code == 200 and "张三" in hit.text
    reads = _reads()
    assert len(reads) == before + 1 and reads[-1] == "person"
    bad = client.post("/data/base/person", data={"id_number": "12345", "csrf_token": csrf})
    assert bad.status_code == 422 and "身份证号码应为18位" in bad.text and 'value="12345"' in bad.text
    legal = client.post("/data/base/legal", data={"uscc": "", "csrf_token": csrf})
    assert legal.status_code == 200


def test_r28_a_department_is_refused_the_posted_lookup_and_the_refusal_is_audited(c: dict[str, Any]) -> None:
    clerk, csrf = _browser("civil_clerk")
    assert clerk.post("/data/base/person", data={"id_number": IDS[0], "csrf_token": csrf}).status_code == 403
    with read_scope() as s:
        denied = s.scalars(select(AuditEntry.object_id).where(AuditEntry.outcome == "denied")).all()
    assert "base:person" in denied


def test_r28_coverage_column_is_headed_for_what_it_holds(c: dict[str, Any]) -> None:
    zh, _ = _browser("reviewer", "zh")
    page = zh.get("/data/base")
    head = page.text[page.text.index('data-testid="base-coverage"') :]
    head = head[: head.index("</thead>")]
    assert "资源数" not in head and "已编目资源" in head
    assert c["code"] in page.text and "婚姻登记信息" in page.text
    en, _ = _browser("reviewer", "en")
    page = en.get("/data/base")
    assert "Catalogued resources (last load)" in page.text and "Marriage registration" in page.text
    with read_scope() as s:
        loaded = store.get_resource(s, c["code"]).last_loaded_at
    assert china(loaded) in page.text


# ---- 2 and 7. freshness: cycle labels from the policy, China time ----------------------------------------


def test_r28_freshness_shows_the_cycle_label_and_china(c: dict[str, Any]) -> None:
    with read_scope() as s:
        pol = policy_service.at(s)
        cycle_zh, cycle_en = (
            pol.label("update_cycles", "daily", "zh"),
            pol.label("update_cycles", "daily", "en"),
        )
        loaded = store.get_resource(s, c["code"]).last_loaded_at
    assert cycle_zh != "daily"
    zh, _ = _browser("reviewer", "zh")
    page = zh.get("/data/freshness")
    row = page.text[page.text.index(f'data-resource="{c["code"]}"') :]
    row = row[: row.index("</tr>")]
    assert cycle_zh in row and '<code class="muted">daily</code>' not in row and ">daily<" not in row
    assert china(loaded) in row
    assert loaded is not None
    utc = loaded.strftime("%Y-%m-%d %H:%M")
    if utc != china(loaded):
        assert utc not in row
    en, _ = _browser("reviewer", "en")
    page = en.get("/data/freshness")
    row = page.text[page.text.index(f'data-resource="{c["code"]}"') :]
    assert cycle_en in row[: row.index("</tr>")]


# ---- 3, 4 and 5. the upload page -------------------------------------------------------------------------


def test_r28_upload_page_names_data_types_by_their_labels(c: dict[str, Any]) -> None:
    zh, _ = _browser("civil_clerk", "zh")
    page = zh.get(f"/data/{c['code']}/upload")
    shown = dict(re.findall(r'<td data-type="([a-z_]+)">([^<]*)</td>', page.text))
    assert set(shown) == {"id_number", "string", "date", "integer", "decimal", "boolean"}
    assert all(label != code for code, label in shown.items())
    assert shown["id_number"] == "居民身份证号码"
    en, _ = _browser("civil_clerk", "en")
    page = en.get(f"/data/{c['code']}/upload")
    assert ">Whole number<" in page.text and ">Resident ID number<" in page.text


def test_r28_a_broken_workbook_is_refused_in_plain_words(c: dict[str, Any]) -> None:
    for lang, expected in (("zh", "不是有效的 Excel 工作簿"), ("en", "not a valid Excel workbook")):
        client, csrf = _browser("civil_clerk", lang)
        refused = client.post(
            f"/data/{c['code']}/upload",
            data={"csrf_token": csrf, "mode": "full"},
            files={"file": ("d.xlsx", b"id_number,full_name\n", "application/octet-stream")},
        )
        assert refused.status_code == 422 and expected in refused.text, refused.text[:2000]
        # the library's own words ("File is not a zip file", BadZipFile) never reach the page (a bare
        # "zip" could occur in the page's random CSRF token)
        assert "zip file" not in refused.text.lower() and "badzip" not in refused.text.lower()


def test_r28_the_column_diff_names_columns_as_the_file_does(c: dict[str, Any]) -> None:
    header = "身份证号码,姓名,登记日期,子女数,补助金额,colour"
    body = (header + "\n" + f"{IDS[1]},李四,2024-01-02,1,2.5,red\n").encode()
    zh, csrf = _browser("civil_clerk", "zh")
    refused = zh.post(
        f"/data/{c['code']}/upload",
        data={"csrf_token": csrf, "mode": "full"},
        files={"file": ("d.csv", body, "text/csv")},
    )
    assert refused.status_code == 422 and "缺少：是否有效（active）" in refused.text
    assert "多出：colour" in refused.text and "缺少：active" not in refused.text
    en, csrf = _browser("civil_clerk", "en")
    refused = en.post(
        f"/data/{c['code']}/upload",
        data={"csrf_token": csrf, "mode": "full"},
        files={"file": ("d.csv", body, "text/csv")},
    )
    assert refused.status_code == 422 and "missing: 是否有效 (active)" in refused.text
    with pytest.raises(Exception) as err:
        store.match_columns(ITEMS, ["id_number", "full_name", "registered_on", "children", "allowance"])
    assert err.value.details == {"missing": ["active"], "unexpected": []}  # type: ignore[attr-defined]


# ---- 6 and 7. the quality page ---------------------------------------------------------------------------


def test_r28_quality_page_names_its_resource_and_shows_the_records_held_now(
    session: Session, c: dict[str, Any], tmp_path: Path, db_clean: str
) -> None:
    nameless = publish(session, c, name="收养登记数据", name_en="").resource_code
    rows = "\n".join(f"{i},王{n},2024-01-02,1,2.5,true" for n, i in enumerate(IDS[:4]))
    ingest_file(
        c["civil_clerk"], nameless, write(tmp_path, "a.csv", HEADER + "\n" + rows + "\n"), url=db_clean
    )
    with session_scope() as s:
        assert recheck.recheck(s, nameless).records == 4
    with read_scope() as s:
        check = recheck.latest(s, nameless)
        assert check is not None
        checked_at = check.checked_at
    ingest_file(
        c["civil_clerk"], nameless, write(tmp_path, "b.csv", HEADER + "\n" + ROW + "\n"), url=db_clean
    )  # a full load: one record now
    en, _ = _browser("civil_clerk", "en")
    page = en.get(f"/data/quality/{nameless}")
    assert page.status_code == 200
    title = page.text[page.text.index('data-testid="quality-title"') :]
    assert "收养登记数据" in title[: title.index("</h1>")]
    assert "<title>" in page.text and f"· {nameless}" not in page.text
    assert "1 records now" in page.text
    assert china(checked_at) in page.text
    batches = en.get(f"/data/{nameless}/batches")
    assert "收养登记数据" in batches.text[: batches.text.index("</h1>")]
    zh, _ = _browser("civil_clerk", "zh")
    page = zh.get(f"/data/quality/{nameless}")
    assert "现有 1 条记录" in page.text and "收养登记数据" in page.text
    home = zh.get("/data/quality")
    row = home.text[home.text.index(f'data-resource="{nameless}"') :]
    cells = re.findall(r'<td class="num">(\d+)</td>', row[: row.index("</tr>")])
    assert cells[0] == "1"  # the records held now, not the 4 the re-check counted


def test_r28_quality_page_refuses_another_department_with_its_own_message(c: dict[str, Any]) -> None:
    police, _ = _browser("police_clerk", "zh")
    page = police.get(f"/data/quality/{c['code']}")
    assert page.status_code == 403
    assert "数据质量报告" in page.text and "可查看批次" not in page.text
    police_en, _ = _browser("police_clerk", "en")
    page = police_en.get(f"/data/quality/{c['code']}")
    assert page.status_code == 403 and "quality report" in page.text
