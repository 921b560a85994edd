"""R6 R22: the read side of CKAN's Action API over the catalog. Each action takes the session, the actor,
the request context and the action's parameters, and returns CKAN's `result`; refusals are GongshuErrors
that the router turns into CKAN's error envelope."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from gongshu.catalog.data_view import EntryView, visible_entry
from gongshu.catalog.search import search
from gongshu.interop import ckan, mapping
from gongshu.interop.ckan_query import And, Node, QueryError, Term, conjuncts, evaluate, parse, text_terms
from gongshu.kernel.errors import NotFound
from gongshu.kernel.identity.actor import Actor

Params = dict[str, Any]
Action = Callable[[Session, Actor, ckan.Context, Params], Any]
MAX_ROWS = 1000
# fq fields answered by the catalog search's own facet filters (values are policy keys, lower-case).
PUSHED = ("catalog_kind", "sharing_attribute", "open_attribute", "update_cycle", "grade")
# A search row: the entry, its relevance, its query view and its package.
Row = tuple[EntryView, float, dict[str, Any], dict[str, Any]]
SORT_KEYS: dict[str, Callable[[Row], Any]] = {
    "score": lambda r: r[1],
    "metadata_modified": lambda r: ckan.modified_key(r[0]),
    "metadata_created": lambda r: r[2]["metadata_created"],
    "name": lambda r: r[2]["name"][0],
    "title": lambda r: r[0].name,
    "title_string": lambda r: r[0].name,
}


def _invalid(param: str, zh: str, en: str) -> QueryError:
    return QueryError("ckan.param_invalid", f"{param} 参数有误：{zh}", f"Invalid {param}: {en}", field=param)


def _int(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise _invalid(name, "应为整数", "must be an integer") from exc
    if not low <= value <= high:
        raise _invalid(name, f"应在 {low} 至 {high} 之间", f"must be between {low} and {high}")
    return value


def _bool(params: dict[str, Any], name: str) -> bool:
    raw = params.get(name, False)
    return raw is True or str(raw).lower() in ("true", "1", "yes", "on")


def _list(params: dict[str, Any], name: str) -> list[str]:
    raw = params.get(name)
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise _invalid(name, "应为 JSON 列表", "must be a JSON list") from exc
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise _invalid(name, "应为字符串列表", "must be a list of strings")
    return raw


def _required(params: dict[str, Any], name: str) -> str:
    value = str(params.get(name) or "").strip()
    if not value:
        raise _invalid(name, "缺少取值", "missing value")
    return value


def _sort(spec: str) -> list[tuple[str, bool]]:
    """`metadata_modified desc, name asc` → [(key, descending)]."""
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        words = part.split()
        direction_ok = len(words) == 1 or (len(words) == 2 and words[1] in ("asc", "desc"))
        if words[0] not in SORT_KEYS or not direction_ok:
            raise _invalid(
                "sort",
                f"无法按 {part} 排序，可用：{', '.join(SORT_KEYS)}（asc 或 desc）",
                f"cannot sort by {part}; use {', '.join(SORT_KEYS)} with asc or desc",
            )
        out.append((words[0], len(words) == 2 and words[1] == "desc"))
    return out


def _pushdown(node: Node) -> tuple[str, dict[str, list[str]]]:
    """R6: the parts of a query the catalog search answers itself — top-level full-text words and
    top-level `field:value` on the search's facets. The rest is evaluated on the packages."""
    words: list[str] = []
    filters: dict[str, list[str]] = {}
    for part in conjuncts(node):
        if isinstance(part, Term) and part.field is None:
            words.append(part.value)
        elif isinstance(part, Term) and part.field in PUSHED and "*" not in part.value:
            if part.field in filters:  # two values for one field, both required: leave it to evaluation
                filters.pop(part.field)
                continue
            filters[part.field] = [part.value.lower()]
    return " ".join(words), filters


def _residual(node: Node, pushed_words: str) -> Node:
    if not pushed_words:
        return node
    return And(tuple(p for p in conjuncts(node) if not (isinstance(p, Term) and p.field is None)))


def _text_match(matches: dict[str, set[int]], entry_id: int) -> Callable[[str], bool]:
    return lambda term: entry_id in matches[term]


def package_search(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> dict[str, Any]:
    """Search the catalog with CKAN's parameters: q, fq, rows, start, sort, facet.field, facet.limit,
    facet.mincount. Sees exactly what the catalog's visibility rules give the caller (R15, R22)."""
    rows = _int(params, "rows", 10, 0, MAX_ROWS)
    start = _int(params, "start", 0, 0, 10**9)
    sort_spec = str(params.get("sort") or "score desc, metadata_modified desc")
    order = _sort(sort_spec)
    facet_fields = _list(params, "facet.field")
    facet_limit = _int(params, "facet.limit", 50, -1, 10**6)
    facet_mincount = _int(params, "facet.mincount", 1, 0, 10**6)
    node: Node = And((parse(str(params.get("q") or ""), "q"), parse(str(params.get("fq") or ""), "fq")))
    words, filters = _pushdown(node)
    residual = _residual(node, words)
    matches = {t: {e.id for e, _ in ckan.visible_entries(session, actor, t)} for t in text_terms(residual)}

    found: list[Row] = []
    for entry, score in ckan.visible_entries(session, actor, words, filters):
        pkg = ckan.package_dict(session, ctx, entry)
        one = ckan.view(pkg, entry)
        if evaluate(residual, one, _text_match(matches, entry.id)):
            found.append((entry, score, one, pkg))
    for key, descending in reversed(order):
        found.sort(key=SORT_KEYS[key], reverse=descending)
    views = [r[2] for r in found]
    facets, search_facets = ckan.facet_counts(ctx, views, facet_fields, facet_limit, facet_mincount)
    return {
        "count": len(found),
        "sort": sort_spec,
        "results": [r[3] for r in found[start : start + rows]],
        "facets": facets,
        "search_facets": search_facets,
    }


def _entry(session: Session, actor: Actor, ident: str) -> EntryView:
    """An entry by package id (uuid), name (slug) or resource code, as `get_entry` lets the actor see it."""
    code = mapping.code_of_name(ident)
    if len(ident) == 36 and ident.count("-") == 4:
        code = next((c for c in ckan.resource_codes(session) if mapping.package_id(c) == ident), code)
    return visible_entry(session, actor, code)


def package_show(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> dict[str, Any]:
    """One package by `id` (its uuid, its name or its resource code); Not Found when the caller may not
    see it (the same answer as for one that does not exist)."""
    return ckan.package_dict(session, ctx, _entry(session, actor, _required(params, "id")))


def package_list(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> list[str]:
    """The names of every package the caller may see (limit, offset)."""
    limit = _int(params, "limit", MAX_ROWS * 100, 0, MAX_ROWS * 100)
    offset = _int(params, "offset", 0, 0, 10**9)
    names = sorted(mapping.package_name(e.resource_code) for e, _ in ckan.visible_entries(session, actor))
    return names[offset : offset + limit]


def _provider_counts(session: Session, actor: Actor) -> dict[int, int]:
    result = search(session, actor, limit=1)
    return {int(v.value): v.count for v in result.facets.get("provider", [])}


def _listing(items: list[dict[str, Any]], params: dict[str, Any], default_sort: str) -> list[dict[str, Any]]:
    spec = str(params.get("sort") or default_sort).split()
    key = spec[0] if spec else "name"
    if key not in ("name", "title", "package_count"):
        raise _invalid(
            "sort",
            f"无法按 {key} 排序（name、title 或 package_count）",
            f"cannot sort by {key} (name, title or package_count)",
        )
    items.sort(key=lambda d: d[key], reverse=len(spec) > 1 and spec[1] == "desc")
    wanted = _list(params, "organizations") or _list(params, "groups")
    if wanted:
        items = [d for d in items if d["name"] in wanted]
    offset = _int(params, "offset", 0, 0, 10**9)
    limit = _int(params, "limit", len(items), 0, 10**6)
    return items[offset : offset + limit]


def organization_list(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> list[Any]:
    """R5: the organisations that provide catalog entries (names, or dicts with all_fields), with the
    number of packages the caller may see."""
    counts = _provider_counts(session, actor)
    items = [ckan.organization_dict(ctx, o, counts.get(o.id, 0)) for o in ckan.government_orgs(session)]
    items = _listing(items, params, "title asc")
    return items if _bool(params, "all_fields") else [d["name"] for d in items]


def organization_show(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> dict[str, Any]:
    """One organisation by `id` (uuid or code); `include_datasets` adds the packages the caller may see."""
    ident = _required(params, "id")
    orgs = ckan.government_orgs(session)
    org = next((o for o in orgs if ident in (o.code, mapping.org_uuid(o.code))), None)
    if org is None:
        raise NotFound("ckan.organization_not_found", f"没有机构 {ident}", f"No organization {ident}")
    out = ckan.organization_dict(ctx, org, _provider_counts(session, actor).get(org.id, 0))
    if _bool(params, "include_datasets"):
        entries = ckan.visible_entries(session, actor, "", {"provider": [str(org.id)]})
        out["packages"] = [ckan.package_dict(session, ctx, e) for e, _ in entries[:MAX_ROWS]]
    return out


def _topics(session: Session, actor: Actor) -> dict[str, int]:
    return {v.value: v.count for v in search(session, actor, limit=1).facets.get("topic", [])}


def group_list(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> list[Any]:
    """The topics (主题) of the packages the caller may see, as CKAN groups."""
    items = [ckan.group_dict(t, n) for t, n in _topics(session, actor).items()]
    items = _listing(items, params, "name asc")
    return items if _bool(params, "all_fields") else [d["name"] for d in items]


def group_show(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> dict[str, Any]:
    """One topic by `id` (its name or uuid)."""
    ident = _required(params, "id")
    topics = _topics(session, actor)
    topic = next((t for t in topics if ident in (t, ckan.group_uuid(t))), None)
    if topic is None:
        raise NotFound("ckan.group_not_found", f"没有主题 {ident}", f"No group {ident}")
    out = ckan.group_dict(topic, topics[topic])
    if _bool(params, "include_datasets"):
        entries = ckan.visible_entries(session, actor, "", {"topic": [topic]})
        out["packages"] = [ckan.package_dict(session, ctx, e) for e, _ in entries[:MAX_ROWS]]
    return out


def status_show(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> dict[str, Any]:
    """The site, as CKAN describes itself."""
    return {
        "site_title": "公数 · 公共数据资源平台",
        "site_description": ctx.pol.doc.title_zh,
        "site_url": ctx.base,
        "ckan_version": ckan.CKAN_VERSION,
        "error_emails_to": None,
        "locale_default": "zh_Hans_CN",
        "extensions": [],
    }


def help_show(session: Session, actor: Actor, ctx: ckan.Context, params: Params) -> str:
    """The documentation of an action (`name`)."""
    name = _required(params, "name")
    if name not in ACTIONS:
        raise NotFound("ckan.action_unknown", f"没有操作 {name}", f"No action {name}")
    return " ".join((ACTIONS[name].__doc__ or "").split())


ACTIONS: dict[str, Action] = {
    "package_list": package_list,
    "package_show": package_show,
    "package_search": package_search,
    "organization_list": organization_list,
    "organization_show": organization_show,
    "group_list": group_list,
    "group_show": group_show,
    "status_show": status_show,
    "help_show": help_show,
}
