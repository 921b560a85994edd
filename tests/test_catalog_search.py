"""R6: full-text catalog search in Chinese and English, facets, visibility (R15, R22), on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from catalog_fixtures import city, marriage
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gongshu.catalog import search, service
from gongshu.catalog.models import CatalogEntry, CatalogGeneration
from gongshu.kernel import db
from gongshu.kernel.identity.actor import ANONYMOUS
from gongshu.kernel.workflow import engine


@pytest.fixture()
def c(session: Session) -> dict[str, Any]:
    return city(session)


def _publish(
    session: Session, c: dict[str, Any], officer: str = "civil_officer", **overrides: Any
) -> CatalogEntry:
    entry = service.create_draft(session, c[officer], marriage(**overrides))
    case = service.submit_for_review(session, c[officer], entry.id)
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    return entry


@pytest.fixture()
def catalog(session: Session, c: dict[str, Any]) -> dict[str, CatalogEntry]:
    items = [
        {
            "name": "id_number",
            "label_zh": "公民身份号码",
            "label_en": "ID number",
            "data_type": "id_number",
            "is_key": True,
            "sensitivity": "personal",
        },
        {"name": "address", "label_zh": "户籍地址", "label_en": "Registered address", "data_type": "string"},
    ]
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
            topic="民政",
        ),
        "household": _publish(
            session,
            c,
            "police_officer",
            name="户籍人口信息",
            name_en="Household registration",
            summary="常住人口户籍登记。",
            keywords=["户籍"],
            items=items,
            topic="公安",
            open_attribute="not_open",
            open_conditions=[],
            not_open_reason="涉及个人信息",
        ),
    }
    out["draft"] = service.create_draft(
        session, c["civil_officer"], marriage(name="殡葬信息", name_en="Funeral records")
    )
    session.commit()
    return out


def _codes(result: search.SearchResult) -> set[str]:
    return {h.entry.resource_code for h in result.hits}


def test_r6_one_character_finds_marriage(
    session: Session, c: dict[str, Any], catalog: dict[str, Any]
) -> None:
    result = search.search(session, ANONYMOUS, "婚")
    assert _codes(result) == {catalog["marriage"].resource_code}
    assert _codes(search.search(session, ANONYMOUS, "婚姻登记")) == {catalog["marriage"].resource_code}
    both = {catalog["marriage"].resource_code, catalog["adoption"].resource_code}
    assert _codes(search.search(session, ANONYMOUS, "登记")) == both


def test_r6_english_and_items_and_provider(
    session: Session, c: dict[str, Any], catalog: dict[str, Any]
) -> None:
    assert _codes(search.search(session, ANONYMOUS, "marriage")) == {catalog["marriage"].resource_code}
    assert _codes(search.search(session, ANONYMOUS, "Marri")) == {catalog["marriage"].resource_code}
    officer = c["police_officer"]
    assert _codes(search.search(session, officer, "户籍地址")) == {catalog["household"].resource_code}
    assert catalog["household"].resource_code in _codes(search.search(session, officer, "公安局"))
    assert search.search(session, ANONYMOUS, "殡葬").total == 0  # drafts are never found


def test_r15_anonymous_does_not_find_shared_only(
    session: Session, c: dict[str, Any], catalog: dict[str, Any]
) -> None:
    assert search.search(session, ANONYMOUS, "户籍").total == 0
    assert search.search(session, c["citizen"], "户籍").total == 0
    assert search.search(session, c["civil_officer"], "户籍").total == 1
    assert search.search(session, ANONYMOUS).total == 2
    assert search.search(session, c["reviewer"]).total == 3


def test_r6_facet_counts(session: Session, c: dict[str, Any], catalog: dict[str, Any]) -> None:
    result = search.search(session, c["reviewer"], "")
    facets = {name: {v.value: v.count for v in values} for name, values in result.facets.items()}
    assert facets["provider"] == {str(c["civil"].id): 2, str(c["police"].id): 1}
    assert facets["format"] == {"csv": 2, "xlsx": 1}
    assert facets["open_attribute"] == {"on_application": 2, "not_open": 1}
    labels = {v.value: v.label for v in result.facets["open_attribute"]}
    assert labels["on_application"] == "依申请开放"
    filtered = search.search(session, c["reviewer"], "", {"format": ["xlsx"]})
    assert _codes(filtered) == {catalog["adoption"].resource_code}
    # The chosen facet keeps its alternatives; the others follow the filter.
    ff = {name: {v.value: v.count for v in values} for name, values in filtered.facets.items()}
    assert ff["format"] == {"csv": 2, "xlsx": 1}
    assert ff["provider"] == {str(c["civil"].id): 1}


def test_r9_index_follows_change_and_withdrawal(
    session: Session, c: dict[str, Any], catalog: dict[str, Any]
) -> None:
    entry = catalog["marriage"]
    case = service.propose_change(
        session, c["civil_officer"], entry.id, marriage(name="涉外婚姻登记信息"), ""
    )
    assert search.search(session, ANONYMOUS, "涉外").total == 0  # the published version is still in force
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    assert _codes(search.search(session, ANONYMOUS, "涉外")) == {entry.resource_code}
    service.withdraw(session, c["civil_officer"], entry.id, "职能调整")
    session.commit()
    assert search.search(session, ANONYMOUS, "涉外").total == 0


def test_r6_sort_by_update(session: Session, c: dict[str, Any], catalog: dict[str, Any]) -> None:
    result = search.search(session, ANONYMOUS, "", sort="updated")
    times = [h.entry.updated_at for h in result.hits]
    assert times == sorted(times, reverse=True)
    assert search.search(session, ANONYMOUS, "登记", limit=1).total == 2


def _counts(result: search.SearchResult) -> dict[str, dict[str, int]]:
    return {name: {v.value: v.count for v in values} for name, values in result.facets.items()}


def test_r6_browse_counts_follow_publication_and_withdrawal(
    session: Session, c: dict[str, Any], catalog: dict[str, Any]
) -> None:
    """Browsing keeps its total and facet counts in a cache keyed by the index generation: a publication
    or a withdrawal bumps it, in the same transaction, and the next search counts again."""
    search.clear_cache()
    first = search.search(session, ANONYMOUS)
    assert (first.total, _counts(first)["format"]) == (2, {"csv": 1, "xlsx": 1})
    assert search.BROWSE_CACHE.misses == 1
    again = search.search(session, ANONYMOUS)
    assert search.BROWSE_CACHE.hits == 1
    assert (again.total, _counts(again)) == (first.total, _counts(first))
    session.commit()

    # Another session (as another process would) caches the counts it sees, then a publication commits.
    reader = db.session_factory(str(session.get_bind().engine.url.render_as_string(False)), readonly=True)()
    try:
        assert search.search(reader, ANONYMOUS).total == 2
        reader.rollback()
        fresh = _publish(
            session, c, name="结婚证补领信息", name_en="Marriage certificate reissue", format="db"
        )
        after = search.search(reader, ANONYMOUS)
        assert after.total == 3
        assert _counts(after)["format"] == {"csv": 1, "xlsx": 1, "db": 1}
        assert after.hits[0].entry.id == fresh.id  # newest first
        reader.rollback()

        service.withdraw(session, c["civil_officer"], catalog["adoption"].id, "职能调整")
        # The writer sees its own withdrawal before committing; nobody else does until it commits.
        assert _counts(search.search(session, ANONYMOUS))["format"] == {"csv": 1, "db": 1}
        assert _counts(search.search(reader, ANONYMOUS))["format"] == {"csv": 1, "xlsx": 1, "db": 1}
        reader.rollback()
        session.commit()
        gone = search.search(reader, ANONYMOUS)
        assert gone.total == 2 and _counts(gone)["format"] == {"csv": 1, "db": 1}
        # The visibility class and the filters are part of the key.
        shared = search.search(reader, c["reviewer"], "", {"format": ["csv", "db"]})
        assert shared.total == 3 and _counts(shared)["format"] == {"csv": 2, "db": 1}
        assert search.search(reader, ANONYMOUS, "", {"format": ["csv", "db"]}).total == 2
    finally:
        reader.close()


def test_r6_browse_without_generation_row_still_counts(
    session: Session, c: dict[str, Any], catalog: dict[str, Any]
) -> None:
    session.execute(delete(CatalogGeneration))
    session.commit()
    search.clear_cache()
    assert search.search(session, ANONYMOUS).total == 2
    assert search.search(session, ANONYMOUS).total == 2
    assert search.BROWSE_CACHE.hits == 0  # nothing to key the cache by: counted every time
    _publish(session, c, name="结婚证补领信息", name_en="Marriage certificate reissue")
    assert session.scalar(select(CatalogGeneration.generation)) == 1  # the next index change recreates it
    assert search.search(session, ANONYMOUS).total == 3
    assert search.search(session, ANONYMOUS).total == 3
    assert search.BROWSE_CACHE.hits == 1


def test_r6_text_query_facets_filters_and_scores(
    session: Session, c: dict[str, Any], catalog: dict[str, Any]
) -> None:
    """A text query's total, facet counts and page come from one pass over the matches; the relevance
    of the page is the same whether the page is sorted by relevance or by date, filtered or not."""
    both = search.search(session, ANONYMOUS, "登记")
    assert both.total == 2 and _counts(both)["format"] == {"csv": 1, "xlsx": 1}
    assert all(h.score > 0 for h in both.hits)
    by_score = {h.entry.id: h.score for h in both.hits}
    assert [h.score for h in both.hits] == sorted(by_score.values(), reverse=True)
    by_date = search.search(session, ANONYMOUS, "登记", sort="updated")
    assert {h.entry.id: h.score for h in by_date.hits} == pytest.approx(by_score)
    dates = [h.entry.updated_at for h in by_date.hits]
    assert dates == sorted(dates, reverse=True)
    xlsx = search.search(session, ANONYMOUS, "登记", {"format": ["xlsx"]})
    assert _codes(xlsx) == {catalog["adoption"].resource_code} and xlsx.total == 1
    assert xlsx.hits[0].score == pytest.approx(by_score[catalog["adoption"].id])
    assert _counts(xlsx)["format"] == {"csv": 1, "xlsx": 1}  # the chosen facet keeps its alternatives
    assert _counts(xlsx)["topic"] == {"民政": 1}
    # Government users also find the shared-only entry, with its facet values; drafts never.
    shared = search.search(session, c["reviewer"], "登记")
    assert shared.total == 3 and _counts(shared)["open_attribute"] == {"on_application": 2, "not_open": 1}
    assert search.search(session, c["reviewer"], "殡葬").total == 0


def test_r6_sqlite_facet_table_follows_the_index(
    session: Session, c: dict[str, Any], catalog: dict[str, Any]
) -> None:
    """SQLite keeps each indexed entry's facet columns beside the FTS5 index; they follow publication,
    an approved change and withdrawal in the same transaction."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the facet table of the index exists on SQLite only")

    def rows() -> dict[int, tuple[Any, ...]]:
        f = search.SQLITE_FACETS
        stmt = select(f.c.entry_id, f.c.status, f.c.format, f.c.open_attribute, f.c.provider_org_id)
        return {r[0]: tuple(r[1:]) for r in session.execute(stmt)}

    def expected(*entries: CatalogEntry) -> dict[int, tuple[Any, ...]]:
        return {e.id: (e.status, e.format, e.open_attribute, e.provider_org_id) for e in entries}

    published = [catalog["marriage"], catalog["adoption"], catalog["household"]]
    assert rows() == expected(*published)  # the draft is not indexed
    entry = catalog["marriage"]
    case = service.propose_change(session, c["civil_officer"], entry.id, marriage(format="db"), "")
    engine.decide(session, c["reviewer"], case.id, "approve")
    session.commit()
    assert rows()[entry.id][1] == "db"
    assert _counts(search.search(session, ANONYMOUS, "登记"))["format"] == {"db": 1, "xlsx": 1}
    service.withdraw(session, c["civil_officer"], entry.id, "职能调整")
    assert entry.id not in rows()  # in the withdrawing transaction already
    session.commit()
    assert rows() == expected(catalog["adoption"], catalog["household"])
    assert search.search(session, ANONYMOUS, "登记").total == 1
