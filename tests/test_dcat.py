"""R6 R22: the catalog as DCAT-AP 3.0 — pages and entries conform to the official SHACL shapes, show only
what the visitor may see, parse back as Turtle and JSON-LD, and page through different datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyshacl
import pytest
from catalog_fixtures import city, marriage
from fastapi.testclient import TestClient
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF
from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.interop import dcat
from gongshu.kernel.identity import tokens
from gongshu.kernel.identity.models import User
from gongshu.kernel.workflow import engine
from gongshu.web.app import create_app

DCAT = dcat.DCAT

SHAPES = Path("/work/shared/standards/dcat-ap-3.0.0-SHACL.ttl")
BASE = "http://testserver"
EU = "http://publications.europa.eu/resource/authority/"


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(SHAPES)


def _publish(session: Session, c: dict[str, Any], officer: str = "civil_officer", **overrides: Any) -> str:
    entry = service.create_draft(session, c[officer], marriage(**overrides))
    case = service.submit_for_review(session, c[officer], entry.id)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry.resource_code


@pytest.fixture()
def codes(session: Session) -> dict[str, str]:
    c = city(session)
    out = {
        "marriage": _publish(session, c),
        "adoption": _publish(
            session,
            c,
            name="收养登记信息",
            name_en="Adoption registration",
            summary="收养关系登记。",
            keywords=["收养"],
            format="xlsx",
            sharing_methods=["file", "api"],
            open_attribute="general",
            open_conditions=[],
            update_cycle="monthly",
            deidentified=True,
        ),
        "allowance": _publish(
            session,
            c,
            name="最低生活保障信息",
            name_en="",
            summary="",
            keywords=[],
            topic="",
            update_cycle="on_change",
            sharing_methods=["db_table"],
        ),
        "household": _publish(
            session,
            c,
            "police_officer",
            name="户籍人口信息",
            name_en="Household registration",
            summary="常住人口户籍登记。",
            keywords=["户籍"],
            topic="公安",
            open_attribute="not_open",
            open_conditions=[],
            not_open_reason="涉及个人信息",
        ),
    }
    draft = service.create_draft(session, c["civil_officer"], marriage(name="殡葬信息", name_en="Funeral"))
    session.commit()
    out["draft"] = draft.resource_code
    return out


def _conforms(data: Graph, shapes: Graph) -> None:
    ok, _, report = pyshacl.validate(data, shacl_graph=shapes, inference="rdfs")
    assert ok, report


def test_r6_the_shapes_refuse_a_dataset_without_title(shapes: Graph) -> None:
    """The conformance check itself can fail: a dataset missing its mandatory dct:title is refused."""
    g = Graph()
    ds = URIRef(f"{BASE}/id/dataset/X")
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.description, Literal("无标题")))
    assert pyshacl.validate(g, shacl_graph=shapes, inference="rdfs")[0] is False


def _datasets(g: Graph) -> set[str]:
    return {str(o) for s in g.subjects(RDF.type, DCAT.Dataset) for o in g.objects(s, DCTERMS.identifier)}


def test_r6_catalog_page_conforms_to_dcat_ap_3(codes: dict[str, str], shapes: Graph) -> None:
    body = TestClient(create_app()).get("/catalog.ttl")
    assert body.status_code == 200 and body.headers["content-type"].startswith("text/turtle")
    g = Graph().parse(data=body.text, format="turtle")
    _conforms(g, shapes)
    cat = URIRef(f"{BASE}/id/catalog")
    assert (cat, RDF.type, DCAT.Catalog) in g
    publisher = g.value(cat, DCTERMS.publisher)
    assert Literal("市大数据管理局", lang="zh") in set(g.objects(publisher, FOAF.name))
    assert len(list(g.objects(cat, DCAT.dataset))) == 3


def test_r22_anonymous_dcat_has_no_shared_only_or_draft_entry(codes: dict[str, str]) -> None:
    client = TestClient(create_app())
    g = Graph().parse(data=client.get("/catalog.ttl").text, format="turtle")
    assert _datasets(g) == {codes["marriage"], codes["adoption"], codes["allowance"]}
    assert client.get(f"/catalog/{codes['household']}.ttl").status_code == 404
    assert client.get(f"/catalog/{codes['draft']}.jsonld").status_code == 404
    assert client.get("/catalog/NO-SUCH-CODE.ttl").status_code == 404


def test_r6_entry_graph_conforms_and_maps_the_regulations_attributes(
    codes: dict[str, str], shapes: Graph
) -> None:
    client = TestClient(create_app())
    g = Graph().parse(data=client.get(f"/catalog/{codes['adoption']}.ttl").text, format="turtle")
    _conforms(g, shapes)
    ds = URIRef(f"{BASE}/id/dataset/{codes['adoption']}")
    assert g.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/PUBLIC")
    assert g.value(ds, DCTERMS.accrualPeriodicity) == URIRef(EU + "frequency/MONTHLY")
    assert {str(t) for t in g.objects(ds, DCTERMS.title)} == {"收养登记信息", "Adoption registration"}
    formats = {g.value(d, DCTERMS.format) for d in g.objects(ds, DCAT.distribution)}
    assert formats == {URIRef(EU + "file-type/XLSX"), URIRef(EU + "file-type/JSON")}
    urls = {str(g.value(d, DCAT.accessURL)) for d in g.objects(ds, DCAT.distribution)}
    assert f"{BASE}/api/v1/catalog/{codes['adoption']}" in urls
    marriage_g = Graph().parse(data=client.get(f"/catalog/{codes['marriage']}.ttl").text, format="turtle")
    _conforms(marriage_g, shapes)
    m = URIRef(f"{BASE}/id/dataset/{codes['marriage']}")
    assert marriage_g.value(m, DCTERMS.accessRights) == URIRef(EU + "access-right/RESTRICTED")
    assert marriage_g.value(m, DCTERMS.accrualPeriodicity) == URIRef(EU + "frequency/DAILY")
    rights = {
        str(r)
        for d in marriage_g.objects(m, DCAT.distribution)
        for r in marriage_g.objects(
            marriage_g.value(d, DCTERMS.rights), URIRef("http://www.w3.org/2000/01/rdf-schema#label")
        )
    }
    assert any("注明数据来源" in r for r in rights)  # R24: the open conditions travel with the data


def test_r6_an_entry_without_summary_topic_or_public_distribution_still_conforms(
    codes: dict[str, str], shapes: Graph
) -> None:
    g = Graph().parse(data=TestClient(create_app()).get(f"/catalog/{codes['allowance']}.ttl").text)
    _conforms(g, shapes)
    ds = URIRef(f"{BASE}/id/dataset/{codes['allowance']}")
    assert g.value(ds, DCTERMS.description) is not None and g.value(ds, DCAT.distribution) is None
    assert g.value(ds, DCTERMS.accrualPeriodicity) == URIRef(EU + "frequency/UPDATE_CONT")


def test_r6_turtle_and_jsonld_parse_back_to_the_same_graph(codes: dict[str, str]) -> None:
    client = TestClient(create_app())
    ttl = Graph().parse(data=client.get("/catalog.ttl").text, format="turtle")
    response = client.get("/catalog.jsonld")
    assert response.headers["content-type"].startswith("application/ld+json")
    jsonld = Graph().parse(data=response.text, format="json-ld")
    assert len(ttl) == len(jsonld) and _datasets(jsonld) == _datasets(ttl)
    one = Graph().parse(data=client.get(f"/catalog/{codes['marriage']}.jsonld").text, format="json-ld")
    assert _datasets(one) == {codes["marriage"]}


def test_r6_paging_gives_different_datasets_per_page(codes: dict[str, str], shapes: Graph) -> None:
    client = TestClient(create_app())
    pages = []
    for number in (1, 2):
        response = client.get("/catalog.ttl", params={"page": number, "page_size": 2})
        g = Graph().parse(data=response.text, format="turtle")
        _conforms(g, shapes)
        pages.append((g, response.headers["link"]))
    first, second = _datasets(pages[0][0]), _datasets(pages[1][0])
    assert len(first) == 2 and len(second) == 1 and not first & second
    hydra = dcat.HYDRA
    view = URIRef(dcat.page_url(BASE, "ttl", 1, 2))
    assert pages[0][0].value(view, hydra.next) == URIRef(dcat.page_url(BASE, "ttl", 2, 2))
    assert pages[0][0].value(view, hydra.totalItems).toPython() == 3
    assert 'rel="next"' in pages[0][1] and 'rel="next"' not in pages[1][1]
    assert client.get("/catalog.ttl", params={"page_size": 1000}).status_code == 422


def test_r15_a_department_token_sees_shared_only_entries_in_dcat(
    session: Session, codes: dict[str, str]
) -> None:
    clerk = session.scalars(select(User).where(User.username == "police_clerk")).one()
    raw, _ = tokens.issue_token(session, clerk, name="dcat")
    session.commit()
    client = TestClient(create_app(), headers={"Authorization": f"Bearer {raw}"})
    g = Graph().parse(data=client.get("/catalog.ttl").text, format="turtle")
    assert codes["household"] in _datasets(g) and codes["draft"] not in _datasets(g)
    entry = Graph().parse(data=client.get(f"/catalog/{codes['household']}.ttl").text, format="turtle")
    ds = URIRef(f"{BASE}/id/dataset/{codes['household']}")
    assert entry.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/NON_PUBLIC")
