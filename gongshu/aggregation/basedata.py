"""R11 R12: the statutory base resources (natural-person base data and legal-person base data), as the
policy lists them with their providers. The coverage report shows, for each, whether its providers have
catalogued it, aggregated it and kept it fresh (应汇尽汇). The person base and the legal-person base
look-ups gather one person's or organisation's records across every resource keyed by their identifier,
for the authority's supervising roles only, each look-up audited with the subject key (R26). The coverage
is for the departments and the authority (the access decision point's BASE_COVERAGE_READ), never for the
public's accounts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.aggregation.interface import key_item
from gongshu.aggregation.interface_models import BaseDataMapping, ServiceInterface
from gongshu.catalog.data_view import EntryView, base_resource_entries, find_entry, published_entries
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import AccessDenied, decide, require
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identifiers.checks import check_id_number, check_uscc
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.timeutil import now, today_china
from gongshu.quality import transforms
from gongshu.store import service as store

# The policy's base data kinds → the entries' subject kind and the key's data type (R10).
LOOKUPS = {"person": ("person", "id_number"), "legal_person": ("legal_person", "uscc")}


def _entries_for(session: Session, base_code: str, name_zh: str, provider_ids: list[int]) -> list[EntryView]:
    """R11 R12: published entries of the responsible providers named as the policy names the resource, or
    mapped to it explicitly."""
    mapped = session.scalars(
        select(BaseDataMapping.resource_code).where(BaseDataMapping.base_code == base_code)
    ).all()
    return base_resource_entries(session, name_zh, provider_ids, mapped)


def require_coverage(session: Session, actor: Actor) -> None:
    """R11 R12 R28: the base data coverage is for the departments and the authority (BASE_COVERAGE_READ,
    held by the roles of government organisations); the public's accounts are refused."""
    if actor.is_anonymous or not decide(session, actor, Action.BASE_COVERAGE_READ).allowed:
        raise Forbidden(
            "basedata.coverage_forbidden",
            "只有政务部门、主管部门和运营单位可查看基础数据汇聚情况",
            "Only departments, the authority and the operator may see the base data coverage",
        )


def _confirmed_interfaces(session: Session) -> set[str]:
    """R7: the resources the authority confirmed as service interfaces (their data may not be copied)."""
    stmt = select(ServiceInterface.resource_code).where(
        ServiceInterface.enabled.is_(True), ServiceInterface.confirmed_at.is_not(None)
    )
    return set(session.scalars(stmt))


def _interface_entry(e: EntryView) -> dict[str, Any]:
    """R7 R11 R12: an entry served through its confirmed service interface: aggregated through the
    interface (the platform serves it from the department's API, nothing is copied), with no load and so
    no freshness to judge (None: not applicable)."""
    return {
        "resource_code": e.resource_code,
        "name": e.name,
        "name_en": e.name_en,
        "aggregated": True,
        "via": "interface",
        "last_loaded_at": None,
        "fresh": None,
        "update_cycle": e.update_cycle,
    }


def _fresh(found: list[dict[str, Any]]) -> bool | None:
    """R9 R11 R12: a base resource is fresh when one of its loaded entries is; not applicable (None) when
    it is aggregated through service interfaces only; not fresh otherwise."""
    if any(f["fresh"] for f in found):
        return True
    loaded = any(f["aggregated"] and f["via"] == "store" for f in found)
    if not loaded and any(f["via"] == "interface" for f in found):
        return None
    return False


def coverage(session: Session, at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """R11 R12 R7: every base resource of the policy in force, with its providers and whether it is
    catalogued, aggregated and fresh. An entry is aggregated when the store holds its data (`via`
    "store"; fresh: last load within its update cycle) or when the authority confirmed it as a service
    interface (`via` "interface", R7: served from the department's API through the platform; freshness
    not applicable, None). A base resource's `via` is "interface" when it is aggregated only that way."""
    at = at or now()
    pol = policy_service.at(session, today_china(at))
    orgs = {o.code: o for o in session.scalars(select(Organisation))}
    interfaces = _confirmed_interfaces(session)
    out = []
    for kind, resources in pol.doc.base_data.items():
        for br in resources:
            providers = [orgs[p] for p in br.providers if p in orgs]
            entries = _entries_for(session, br.code, br.zh, [o.id for o in providers])
            found = []
            for e in entries:
                if e.resource_code in interfaces:
                    found.append(_interface_entry(e))
                    continue
                res = store.find_resource(session, e.resource_code)
                cycle = pol.doc.update_cycles.get(e.update_cycle)
                loaded = (
                    res.last_loaded_at
                    if res is not None and store.has_data(session, e.resource_code)
                    else None
                )
                fresh = bool(loaded and cycle and at - loaded <= dt.timedelta(days=cycle.interval_days))
                found.append(
                    {
                        "resource_code": e.resource_code,
                        "name": e.name,
                        "name_en": e.name_en,
                        "aggregated": loaded is not None,
                        "via": "store" if loaded is not None else None,
                        "last_loaded_at": loaded,
                        "fresh": fresh,
                        "update_cycle": e.update_cycle,
                    }
                )
            out.append(
                {
                    "kind": kind,
                    "code": br.code,
                    "zh": br.zh,
                    "en": br.english(),
                    "provider_codes": list(br.providers),
                    "providers": [
                        {"code": o.code, "name_zh": o.name_zh, "name_en": o.name_en} for o in providers
                    ],
                    "entries": found,
                    "catalogued": bool(found),
                    "aggregated": any(f["aggregated"] for f in found),
                    "via": _via(found),
                    "fresh": _fresh(found),
                }
            )
    return out


def _via(found: list[dict[str, Any]]) -> str | None:
    """R7 R11 R12: how a base resource is aggregated — "store" (an entry's data is loaded), "interface"
    (only through confirmed service interfaces) or None (not aggregated)."""
    if any(f["via"] == "store" for f in found):
        return "store"
    return "interface" if any(f["via"] == "interface" for f in found) else None


def map_base_data(session: Session, actor: Actor, base_code: str, resource_code: str) -> BaseDataMapping:
    """R11 R12: the authority states that a published entry holds a base resource (names may differ)."""
    require(session, actor, Action.SUPERVISE)
    pol = policy_service.at(session, today_china())
    if not any(br.code == base_code for brs in pol.doc.base_data.values() for br in brs):
        raise ValidationFailed(
            "basedata.unknown",
            f"政策中没有基础数据资源“{base_code}”",
            f"The policy lists no base resource {base_code!r}",
            field="base_code",
        )
    entry = find_entry(session, resource_code)
    if entry is None or entry.status != "published":
        raise NotFound(
            "basedata.resource_unknown",
            f"资源 {resource_code} 不存在或未发布",
            f"Resource {resource_code} does not exist or is not published",
        )
    exists = session.scalar(
        select(BaseDataMapping).where(
            BaseDataMapping.base_code == base_code, BaseDataMapping.resource_code == resource_code
        )
    )
    if exists is not None:
        raise Conflict("basedata.mapped", "该对应关系已存在", "The mapping already exists")
    row = BaseDataMapping(base_code=base_code, resource_code=resource_code, created_by_user_id=actor.user_id)
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "basedata.map",
        object_type="resource",
        object_id=resource_code,
        detail={"base_code": base_code},
    )
    return row


def shown_value(value: Any) -> str:
    """R11 R12: a stored value as the look-up pages show it — a decimal as entered (normalised: no
    trailing zeros beyond its scale, never an exponent), a date in ISO form, nothing for an empty cell."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def may_look_up(session: Session, actor: Actor) -> bool:
    """R11 R12 R28: the base look-ups are for the authority's supervising roles (reviewers, coordinators,
    platform administrators — those holding SUPERVISE platform-wide)."""
    if actor.is_anonymous:
        return False
    decision = decide(session, actor, Action.SUPERVISE)
    return decision.allowed and decision.org_scope is None


def look_up(session: Session, actor: Actor, kind: str, identifier: str) -> list[dict[str, Any]]:
    """R11 R12: one person (by ID number) or organisation (by USCC) across every published resource keyed
    by it. Refusals raise AccessDenied (audited by the caller); an allowed look-up is audited with the key."""
    if kind not in LOOKUPS:
        raise NotFound("basedata.lookup_unknown", "没有该基础库", f"No base look-up {kind!r}")
    subject_kind, data_type = LOOKUPS[kind]
    if not may_look_up(session, actor):
        raise AccessDenied(
            "basedata.lookup_forbidden",
            "只有主管部门的监管角色可以查询基础库",
            "Only the authority's supervising roles may use the base look-ups",
            actor=actor,
            resource_id=f"base:{kind}",
            scenario=None,
            detail={"reason": "basedata.lookup_forbidden", "kind": kind},
        )
    # R13: typed as a load's key column is read — full-width digits and letters half-width, the
    # ideographic space trimmed — so a key copied from a document finds what the load stored.
    identifier = identifier.translate(transforms.HALF).strip("\u3000 \t\r\n")
    check = check_id_number(identifier) if data_type == "id_number" else check_uscc(identifier)
    if not check.valid or check.normalized is None:
        raise ValidationFailed(
            check.error_code or "basedata.identifier_invalid",
            check.error_zh or "标识无效",
            check.error_en or "Invalid identifier",
            field=data_type,
        )
    key = check.normalized
    found: list[dict[str, Any]] = []
    for entry in published_entries(session, subject_kind=subject_kind):
        key_name = key_item(entry)
        key_type = next((i.data_type for i in entry.items if i.name == key_name), None)
        if key_type != data_type or not store.has_data(session, entry.resource_code):
            continue
        rows = store.rows(session, entry.resource_code, key=key, limit=10)
        if rows:
            found.append({"entry": entry, "columns": list(entry.items), "rows": rows})
    record(
        session,
        actor,
        "data.read",
        object_type="base_data",
        object_id=kind,
        scenario=f"R11 R12 {kind} 基础库查询",
        subject_keys=[key],
        detail={"via": "base_lookup", "resources": [f["entry"].resource_code for f in found]},
    )
    return found
