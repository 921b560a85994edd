"""R6 R15 R22: CKAN's Action API over the catalog, driven by the real ckanapi client against the served
app — listing, showing and searching packages (Chinese full text, fq with negation, OR and time ranges,
facets, paging), organisations, groups, status; CKAN's envelope and error statuses; visibility."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ckanapi
import httpx
import pytest
from catalog_fixtures import city, marriage
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.interop import mapping
from gongshu.kernel import timeutil
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import User
from gongshu.kernel.workflow import engine


def _publish(
    session: Session, c: dict[str, Any], at: str, officer: str = "civil_officer", **overrides: Any
) -> str:
    timeutil.freeze(dt.datetime.fromisoformat(at))
    entry = service.create_draft(session, c[officer], marriage(**overrides))
    case = service.submit_for_review(session, c[officer], entry.id)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry.resource_code


@pytest.fixture()
def codes(session: Session) -> dict[str, str]:
    c = city(session)
    out = {
        "marriage": _publish(session, c, "2024-01-10T10:00:00"),
        "adoption": _publish(
            session,
            c,
            "2024-03-01T10:00:00",
            name="收养登记信息",
            name_en="Adoption registration",
            summary="收养关系登记。",
            keywords=["收养"],
            format="xlsx",
            sharing_methods=["file", "api"],
            open_attribute="general",
            open_conditions=[],
            deidentified=True,
        ),
        "household": _publish(
            session,
            c,
            "2024-07-01T10:00:00",
            "police_officer",
            name="户籍人口信息",
            summary="常住人口户籍登记。",
            keywords=["户籍"],
            topic="公安",
            open_attribute="not_open",
            open_conditions=[],
            not_open_reason="涉及个人信息",
        ),
        "traffic": _publish(
            session,
            c,
            "2024-08-01T10:00:00",
            "police_officer",
            name="交通违法处理信息",
            name_en="Traffic offences",
            summary="道路交通违法行为处理结果。",
            keywords=["交通"],
            topic="交通",
            format="csv",
            sharing_methods=["file"],
            open_attribute="general",
            open_conditions=[],
            deidentified=True,
            update_cycle="weekly",
        ),
    }
    draft = service.create_draft(session, c["civil_officer"], marriage(name="殡葬信息", name_en="Funeral"))
    session.commit()
    timeutil.freeze(None)
    out["draft"] = draft.resource_code
    clerk = session.scalars(select(User).where(User.username == "police_clerk")).one()
    out["token"], _ = tokens.issue_token(session, clerk, name="ckan")
    session.commit()
    return out


def _name(code: str) -> str:
    return mapping.package_name(code)


def _names(result: dict[str, Any]) -> set[str]:
    return {p["name"] for p in result["results"]}


def test_r22_package_list_and_show_as_anonymous(live_server: str, codes: dict[str, str]) -> None:
    ckan = ckanapi.RemoteCKAN(live_server)
    public = {_name(codes[k]) for k in ("marriage", "adoption", "traffic")}
    assert set(ckan.action.package_list()) == public
    pkg = ckan.action.package_show(id=_name(codes["adoption"]))
    assert pkg["title"] == "收养登记信息" and pkg["notes"] == "收养关系登记。"
    assert pkg["organization"]["name"] == "civil_affairs" and pkg["organization"]["title"] == "市民政局"
    assert [t["name"] for t in pkg["tags"]] == ["收养"] and pkg["groups"][0]["name"] == "民政"
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert extras["open_attribute"] == "general" and extras["resource_code"] == codes["adoption"]
    assert {r["format"] for r in pkg["resources"]} == {"XLSX", "JSON"}
    assert f"{live_server}/api/v1/catalog/{codes['adoption']}" in {r["url"] for r in pkg["resources"]}
    assert ckan.action.package_show(id=pkg["id"])["name"] == pkg["name"]  # by uuid
    assert ckan.action.package_show(id=codes["adoption"])["id"] == pkg["id"]  # by resource code
    for hidden in ("household", "draft"):
        with pytest.raises(ckanapi.NotFound):
            ckan.action.package_show(id=_name(codes[hidden]))


def test_r15_a_department_api_token_also_sees_shared_only_entries(
    live_server: str, codes: dict[str, str]
) -> None:
    ckan = ckanapi.RemoteCKAN(live_server, apikey=codes["token"])
    assert ckan.action.package_show(id=_name(codes["household"]))["private"] is True
    assert ckan.action.package_search(rows=0)["count"] == 4
    assert "公安" in ckan.action.group_list()
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id=_name(codes["draft"]))


def test_r6_package_search_chinese_text_and_fq(live_server: str, codes: dict[str, str]) -> None:
    ckan = ckanapi.RemoteCKAN(live_server)
    assert _names(ckan.action.package_search(q="婚")) == {_name(codes["marriage"])}
    assert _names(ckan.action.package_search(q="tags:收养")) == {_name(codes["adoption"])}
    negated = ckan.action.package_search(fq="-organization:civil_affairs")
    assert _names(negated) == {_name(codes["traffic"])}
    either = ckan.action.package_search(fq="groups:交通 OR tags:收养")
    assert _names(either) == {_name(codes["traffic"]), _name(codes["adoption"])}
    both = ckan.action.package_search(q="登记", fq="organization:civil_affairs -res_format:XLSX")
    assert _names(both) == {_name(codes["marriage"])}
    assert ckan.action.package_search(fq="open_attribute:on_application")["count"] == 1
    assert ckan.action.package_search(fq="+dataset_type:dataset +capacity:public")["count"] == 3


def test_r6_package_search_metadata_modified_range_and_sort(live_server: str, codes: dict[str, str]) -> None:
    ckan = ckanapi.RemoteCKAN(live_server)
    recent = ckan.action.package_search(fq="metadata_modified:[2024-02-01T00:00:00Z TO *]")
    assert _names(recent) == {_name(codes["adoption"]), _name(codes["traffic"])}  # household stays hidden
    early = ckan.action.package_search(fq="metadata_modified:[* TO 2024-02-01T00:00:00Z]")
    assert _names(early) == {_name(codes["marriage"])}
    ordered = ckan.action.package_search(sort="metadata_modified desc")
    assert [p["name"] for p in ordered["results"]] == [
        _name(codes[k]) for k in ("traffic", "adoption", "marriage")
    ]
    assert ordered["results"][0]["metadata_modified"].startswith("2024-08-01T02:00:00")


def test_r6_package_search_facets_in_ckans_shape(live_server: str, codes: dict[str, str]) -> None:
    ckan = ckanapi.RemoteCKAN(live_server)
    result = ckan.action.package_search(
        **{"facet.field": ["organization", "groups", "res_format"], "rows": 0}
    )
    assert result["results"] == [] and result["count"] == 3
    assert result["facets"]["organization"] == {"civil_affairs": 2, "public_security": 1}
    org_items = result["search_facets"]["organization"]
    assert org_items["title"] == "organization"
    assert {"name": "civil_affairs", "display_name": "市民政局", "count": 2} in org_items["items"]
    assert result["facets"]["groups"] == {"民政": 2, "交通": 1}
    assert result["facets"]["res_format"] == {"JSON": 2, "XLSX": 1, "CSV": 1}
    raw = httpx.get(
        f"{live_server}/api/3/action/package_search", params={"facet.field": '["grade"]', "rows": 0}
    )
    assert raw.json()["result"]["search_facets"]["grade"]["items"][0]["display_name"] == "重要数据"


def test_r6_package_search_pages_with_rows_and_start(live_server: str, codes: dict[str, str]) -> None:
    ckan = ckanapi.RemoteCKAN(live_server)
    pages = [ckan.action.package_search(rows=1, start=n, sort="name asc")["results"] for n in range(4)]
    assert [len(p) for p in pages] == [1, 1, 1, 0]
    names = [p[0]["name"] for p in pages[:3]]
    assert names == sorted(names) and len(set(names)) == 3


def test_r5_organizations_groups_and_status(live_server: str, codes: dict[str, str]) -> None:
    ckan = ckanapi.RemoteCKAN(live_server)
    assert {"bigdata", "civil_affairs", "public_security"} <= set(ckan.action.organization_list())
    assert "p1" not in ckan.action.organization_list()  # the public's own accounts are no organisations
    full = {o["name"]: o for o in ckan.action.organization_list(all_fields=True)}
    assert full["civil_affairs"]["package_count"] == 2 and full["public_security"]["package_count"] == 1
    org = ckan.action.organization_show(id="public_security", include_datasets=True)
    assert org["title"] == "市公安局" and [p["name"] for p in org["packages"]] == [_name(codes["traffic"])]
    assert ckan.action.organization_show(id=org["id"])["name"] == "public_security"
    with pytest.raises(ckanapi.NotFound):
        ckan.action.organization_show(id="p1")
    assert sorted(ckan.action.group_list()) == ["交通", "民政"]
    assert ckan.action.group_show(id="民政")["package_count"] == 2
    with pytest.raises(ckanapi.NotFound):
        ckan.action.group_show(id="公安")  # only a shared-only entry has it
    status = ckan.action.status_show()
    assert status["ckan_version"].startswith("2.10") and status["extensions"] == [] and status["site_title"]


def test_r6_ckan_envelope_and_error_statuses_over_raw_http(live_server: str, codes: dict[str, str]) -> None:
    ok = httpx.get(f"{live_server}/api/3/action/package_show", params={"id": _name(codes["marriage"])})
    body = ok.json()
    assert ok.status_code == 200 and set(body) == {"help", "success", "result"} and body["success"] is True
    assert body["help"] == f"{live_server}/api/3/action/help_show?name=package_show"
    assert httpx.get(body["help"]).json()["result"]
    posted = httpx.post(f"{live_server}/api/3/action/package_search", json={"q": "婚", "rows": 5})
    assert posted.json()["result"]["count"] == 1
    missing = httpx.get(f"{live_server}/api/3/action/package_show", params={"id": _name(codes["household"])})
    assert missing.status_code == 404 and missing.json()["success"] is False
    assert missing.json()["error"]["__type"] == "Not Found Error" and missing.json()["error"]["message"]
    invalid = httpx.get(f"{live_server}/api/3/action/package_search", params={"fq": "colour:red"})
    assert invalid.status_code == 409 and invalid.json()["error"]["__type"] == "Validation Error"
    assert "colour" in invalid.json()["error"]["message"]
    assert httpx.get(f"{live_server}/api/3/action/package_search", params={"rows": "x"}).status_code == 409
    unknown = httpx.get(f"{live_server}/api/3/action/package_create")
    assert (
        unknown.status_code == 400 and unknown.json() == "Bad request - Action name not known: package_create"
    )
    denied = httpx.get(f"{live_server}/api/3/action/package_list", headers={"Authorization": "not-a-token"})
    assert denied.status_code == 403 and denied.json()["error"]["__type"] == "Authorization Error"


def test_r6_ckanapi_raises_ckans_exceptions(live_server: str, codes: dict[str, str]) -> None:
    ckan = ckanapi.RemoteCKAN(live_server)
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_search(fq="colour:red")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_search(sort="colour asc")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_search(fq="metadata_modified:[yesterday TO *]")
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="no-such-package")
    with pytest.raises(ckanapi.CKANAPIError):
        ckan.call_action("package_patch", {"id": _name(codes["marriage"])})
    with pytest.raises(ckanapi.NotAuthorized):
        ckanapi.RemoteCKAN(live_server, apikey="gs_000000000000_" + "x" * 40).action.package_list()
