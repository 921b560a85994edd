"""R7 R11 R12: a base resource whose data may not be copied — the authority confirmed it as a service
interface, served from the department's API through the platform — counts as aggregated (through the
interface), not as a gap; its freshness is not applicable (there is no load to be fresh). A registration
the authority has not confirmed yet is no aggregation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from page_fixtures import page_client
from sqlalchemy.orm import Session
from store_fixtures import publish, store_city

from gongshu.aggregation import basedata, interface
from gongshu.kernel.db import read_scope, session_scope


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    out = store_city(session)
    out["code"] = publish(session, out).resource_code  # 婚姻登记信息 of civil affairs (R11): never loaded
    with session_scope() as s:
        interface.register_interface(
            s,
            out["civil_clerk"],
            out["code"],
            base_url="http://127.0.0.1:9/dept-api",
            params={"id_number": "id_number"},
            legal_basis="《婚姻登记条例》规定登记档案不得集中存储",
        )
    return out


def _marriage() -> dict[str, Any]:
    with read_scope() as s:
        return next(r for r in basedata.coverage(s) if r["code"] == "marriage")


def _row(html: str) -> str:
    found = re.search(r'<tr data-base="marriage".*?</tr>', html, re.S)
    assert found is not None
    return found.group(0)


def test_r11_a_confirmed_service_interface_counts_as_aggregated_and_freshness_does_not_apply(
    c: dict[str, Any],
) -> None:
    waiting = _marriage()  # registered, not yet confirmed: a gap still
    assert waiting["catalogued"] and not waiting["aggregated"] and waiting["fresh"] is False
    assert waiting["via"] is None
    with session_scope() as s:
        interface.confirm_interface(s, c["reviewer"], c["code"])
    marriage = _marriage()
    assert marriage["aggregated"] and marriage["via"] == "interface" and marriage["fresh"] is None
    (entry,) = marriage["entries"]
    assert (entry["resource_code"], entry["via"], entry["fresh"]) == (c["code"], "interface", None)
    assert entry["last_loaded_at"] is None


def test_r11_the_coverage_page_shows_it_via_the_service_interface_in_both_languages(
    c: dict[str, Any],
) -> None:
    with session_scope() as s:
        interface.confirm_interface(s, c["reviewer"], c["code"])
    zh, _ = page_client("reviewer")
    row = _row(zh.get("/data/base").text)
    assert 'data-aggregated="true"' in row and 'data-via="interface"' in row and 'data-fresh="n/a"' in row
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert "服务接口" in cells[4] and "不适用" in cells[5] and "否" not in cells[4] + cells[5]
    en, _ = page_client("reviewer", "en")
    row = _row(en.get("/data/base").text)
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert "Via service interface" in cells[4] and "Not applicable" in cells[5]
    assert ">No<" not in cells[4] + cells[5] and cells[4] != "No" and cells[5] != "No"
