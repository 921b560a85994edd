"""R6 R22: catalog entries as CKAN packages, providers as CKAN organisations, topics as CKAN groups, and
the views that CKAN queries (`fq`) and facets are evaluated on. Read-only: nothing here writes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import EntryView, resource_codes_of, search_entries
from gongshu.catalog.validation import PUBLIC_OPEN
from gongshu.interop import mapping
from gongshu.interop.ckan_query import EXTRAS, QueryError
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import GOVERNMENT_KINDS, Organisation
from gongshu.kernel.policy.service import Policy
from gongshu.kernel.timeutil import as_utc

CKAN_VERSION = "2.10.4"
SEARCH_PAGE = 100  # the catalog search's largest page
FACET_FIELDS = ("organization", "tags", "groups", "res_format", *EXTRAS)
# Extras whose values are policy categories: the policy group that labels them.
LABELLED = {
    "catalog_kind": "catalog_kinds",
    "sharing_attribute": "sharing_attributes",
    "open_attribute": "open_attributes",
    "update_cycle": "update_cycles",
    "grade": "grades",
}
STATES = {"published": "active", "withdrawn": "deleted"}


@dataclass
class Context:
    """What every mapping needs: the request's base URL and language, and the policy in force."""

    base: str
    lang: str
    pol: Policy
    orgs: dict[int, Organisation | None] = field(default_factory=dict)

    def org(self, session: Session, org_id: int) -> Organisation | None:
        if org_id not in self.orgs:
            self.orgs[org_id] = session.get(Organisation, org_id)
        return self.orgs[org_id]


def group_uuid(topic: str) -> str:
    return str(uuid.uuid5(mapping.NAMESPACE, f"topic:{topic}"))


def organization_dict(ctx: Context, org: Organisation, package_count: int | None = None) -> dict[str, Any]:
    """A provider as a CKAN organisation: id (stable uuid), name (the organisation code), title."""
    out: dict[str, Any] = {
        "id": mapping.org_uuid(org.code),
        "name": org.code,
        "title": org.name(ctx.lang),
        "display_name": org.name(ctx.lang),
        "description": "",
        "image_url": "",
        "created": mapping.iso(org.created_at),
        "type": "organization",
        "is_organization": True,
        "approval_status": "approved",
        "state": "active" if org.active else "deleted",
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def group_dict(topic: str, package_count: int | None = None) -> dict[str, Any]:
    """A topic (主题) as a CKAN group."""
    out: dict[str, Any] = {
        "id": group_uuid(topic),
        "name": topic,
        "title": topic,
        "display_name": topic,
        "description": "",
        "image_url": "",
        "type": "group",
        "is_organization": False,
        "approval_status": "approved",
        "state": "active",
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def _resources(ctx: Context, entry: EntryView) -> list[dict[str, Any]]:
    pkg_id = mapping.package_id(entry.resource_code)
    return [
        {
            "id": mapping.resource_uuid(entry.resource_code, d.method),
            "package_id": pkg_id,
            "name": d.title_zh if ctx.lang.startswith("zh") else d.title_en,
            "description": "",
            "format": d.format,
            "mimetype": d.media_type or None,
            "url": d.url,
            "url_type": None,
            "state": "active",
            "position": position,
            "created": mapping.iso(entry.published_at or entry.created_at),
            "last_modified": mapping.iso(entry.updated_at),
        }
        for position, d in enumerate(mapping.distributions(ctx.pol, entry, ctx.base))
    ]


def package_dict(session: Session, ctx: Context, entry: EntryView) -> dict[str, Any]:
    """R6: an entry as a CKAN package (CKAN's keys; the regulation's attributes as extras)."""
    org = ctx.org(session, entry.provider_org_id)
    resources = _resources(ctx, entry)
    tags = [str(k) for k in entry.keywords]
    extras = {name: str(getattr(entry, name)) for name in EXTRAS}
    provider = org.name(ctx.lang) if org else ""
    return {
        "id": mapping.package_id(entry.resource_code),
        "name": mapping.package_name(entry.resource_code),
        "title": entry.name,
        "title_translated": {"zh_Hans_CN": entry.name, "en": entry.name_en},
        "notes": entry.summary,
        "type": "dataset",
        "state": STATES.get(entry.status, entry.status),
        "private": entry.open_attribute not in PUBLIC_OPEN,
        "url": f"{ctx.base}/catalog/{entry.resource_code}",
        "version": str(entry.current_version),
        "author": provider,
        "maintainer": provider,
        "license_id": "",
        "license_title": "",
        "metadata_created": mapping.iso(entry.created_at),
        "metadata_modified": mapping.iso(entry.updated_at),
        "owner_org": mapping.org_uuid(org.code) if org else None,
        "organization": organization_dict(ctx, org) if org else None,
        "tags": [{"name": t, "display_name": t, "state": "active", "vocabulary_id": None} for t in tags],
        "num_tags": len(tags),
        "groups": [group_dict(entry.topic)] if entry.topic else [],
        "extras": [{"key": k, "value": v} for k, v in extras.items()],
        "resources": resources,
        "num_resources": len(resources),
    }


def view(pkg: dict[str, Any], entry: EntryView) -> dict[str, Any]:
    """The field values a query and the facets see in a package."""
    out: dict[str, Any] = {
        "organization": [pkg["organization"]["name"]] if pkg["organization"] else [],
        "tags": [t["name"] for t in pkg["tags"]],
        "groups": [g["name"] for g in pkg["groups"]],
        "res_format": sorted({r["format"] for r in pkg["resources"] if r["format"]}),
        "name": [pkg["name"]],
        "id": [pkg["id"], entry.resource_code],
        "dataset_type": [pkg["type"]],
        "capacity": ["private" if pkg["private"] else "public"],
        "state": [pkg["state"]],
        "metadata_modified": as_utc(entry.updated_at),
        "metadata_created": as_utc(entry.created_at),
    }
    for extra in pkg["extras"]:
        out[extra["key"]] = [extra["value"]]
    return out


def visible_entries(
    session: Session, actor: Actor, q: str = "", filters: dict[str, list[str]] | None = None
) -> list[tuple[EntryView, float]]:
    """R15 R22: every published entry the actor may see that matches `q` and the facet filters, with
    its relevance — the catalog's own search, page after page."""
    found: list[tuple[EntryView, float]] = []
    while True:
        total, hits = search_entries(session, actor, q, filters, "relevance", SEARCH_PAGE, len(found), "zh")
        found += hits
        if not hits or len(found) >= total:
            return found


def facet_counts(
    ctx: Context, views: list[dict[str, Any]], fields: list[str], limit: int, mincount: int
) -> tuple[dict[str, dict[str, int]], dict[str, Any]]:
    """CKAN's `facets` ({field: {value: count}}) and `search_facets` ({field: {title, items}})."""
    facets: dict[str, dict[str, int]] = {}
    search_facets: dict[str, Any] = {}
    for name in fields:
        if name not in FACET_FIELDS:
            raise QueryError(
                "ckan.facet_invalid",
                f"facet.field 参数有误：不支持按 {name} 分面，可用字段：{', '.join(FACET_FIELDS)}",
                f"Invalid facet.field: cannot facet on {name}; supported fields: {', '.join(FACET_FIELDS)}",
                field="facet.field",
            )
        counts = Counter(v for one in views for v in set(one.get(name, [])))
        ranked = [(v, n) for v, n in sorted(counts.items(), key=lambda p: (-p[1], p[0])) if n >= mincount]
        ranked = ranked if limit < 0 else ranked[:limit]
        facets[name] = dict(ranked)
        search_facets[name] = {
            "title": name,
            "items": [{"name": v, "display_name": _display(ctx, name, v), "count": n} for v, n in ranked],
        }
    return facets, search_facets


def _display(ctx: Context, name: str, value: str) -> str:
    if name == "organization":
        org = next((o for o in ctx.orgs.values() if o is not None and o.code == value), None)
        return org.name(ctx.lang) if org else value
    if name in LABELLED:
        return ctx.pol.label(LABELLED[name], value, ctx.lang)
    return value


def government_orgs(session: Session) -> list[Organisation]:
    """R5: the organisations that may provide catalog entries (never the public's own accounts)."""
    kinds = [k.value for k in GOVERNMENT_KINDS]
    stmt = select(Organisation).where(Organisation.kind.in_(kinds)).order_by(Organisation.code)
    return list(session.scalars(stmt))


def resource_codes(session: Session) -> list[str]:
    """Every resource code, to resolve a package uuid back to its entry (visibility is checked after)."""
    return resource_codes_of(session, None)


def modified_key(entry: EntryView) -> dt.datetime:
    return as_utc(entry.updated_at)
