"""R20: data return — national and provincial data returned to the city, and their service interfaces,
are catalog entries whose provider is the upstream body (organisation kind `upstream`). They are
published, applied for and delivered like every other entry: the access decision point treats them the
same (sharing attribute, conditions, grants).

Who registers them: the upstream body has no officers on the platform, so the authority or the operator
registers its entries on its behalf, through the ordinary catalog service, with a clearly scoped
permission — a `catalog_officer` role *held at the upstream organisation* by the operator's (or the
authority's) users. A platform administrator gives it with `identity.service.grant_role(session, user,
"<upstream code>", "catalog_officer")`; it lets the holder compile that upstream body's entries and
nothing else (no data role there, no other organisation's catalog). The workflow case of the
publication is opened on the upstream body's behalf by the platform once that permission is checked
(the holder does not act for the upstream body otherwise); the authority reviews it as any other."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.catalog.data_view import EntryView, entry_by_id, published_entries
from gongshu.catalog.schemas import EntryInput
from gongshu.kernel.access.policy import Action
from gongshu.kernel.access.service import require
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import ValidationFailed
from gongshu.kernel.identity.actor import SYSTEM, Actor
from gongshu.kernel.identity.models import Organisation, OrgKind
from gongshu.kernel.identity.organisations import get_org_by_code
from gongshu.kernel.workflow.models import Case


def _upstream(session: Session, actor: Actor, code: str) -> Organisation:
    """R20: the upstream body, and the actor's catalog officer role held there."""
    org = get_org_by_code(session, code)
    if org.kind != OrgKind.UPSTREAM.value:
        raise ValidationFailed(
            "return.not_upstream",
            f"{org.name_zh}不是国家或省级数据回流单位",
            f"{org.code} is not a national or provincial (upstream) body",
            field="upstream_org_code",
        )
    require(session, actor, Action.CATALOG_COMPILE, org_id=org.id)
    return org


def register_return_resource(
    session: Session, actor: Actor, *, upstream_org_code: str, data: EntryInput
) -> tuple[EntryView, Case]:
    """R20: catalog a returned resource (or interface) of an upstream body and submit it for the
    authority's publication review."""
    org = _upstream(session, actor, upstream_org_code)
    draft = catalog.create_draft(session, actor, data.model_copy(update={"provider_org_id": org.id}))
    case = catalog.submit_for_review(session, SYSTEM, draft.id)
    entry = entry_by_id(session, draft.id)
    assert entry is not None  # just created, in this transaction
    record(
        session,
        actor,
        "return.register",
        object_type="catalog_entry",
        object_id=entry.resource_code,
        detail={"upstream": org.code, "case": case.number},
    )
    return entry, case


def resubmit_return_resource(session: Session, actor: Actor, entry_id: int) -> Case:
    """R20: submit a corrected draft of a returned resource again (after the authority returned it)."""
    entry = entry_by_id(session, entry_id)
    provider = session.get(Organisation, entry.provider_org_id) if entry is not None else None
    if entry is None or provider is None:
        raise ValidationFailed("return.not_found", "没有该目录", "No such entry", field="entry_id")
    _upstream(session, actor, provider.code)
    case = catalog.submit_for_review(session, SYSTEM, entry.id)
    record(
        session,
        actor,
        "return.resubmit",
        object_type="catalog_entry",
        object_id=entry.resource_code,
        detail={"case": case.number},
    )
    return case


def return_resources(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """R20: the published return resources the actor may see, with their upstream body."""
    orgs = session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.UPSTREAM.value).order_by(Organisation.code)
    ).all()
    upstream = {o.id: (rank, o) for rank, o in enumerate(orgs)}
    # By upstream body (the database's order of codes), then by resource code (already so ordered).
    entries = sorted(
        published_entries(session, provider_org_ids=set(upstream)),
        key=lambda e: upstream[e.provider_org_id][0],
    )
    pairs = [(e, upstream[e.provider_org_id][1]) for e in entries]
    return [
        {
            "resource_code": e.resource_code,
            "name": e.name,
            "name_en": e.name_en or e.name,
            "format": e.format,
            "upstream": o.name_zh,
            "upstream_en": o.name_en or o.code,
            "sharing_attribute": e.sharing_attribute,
            "open_attribute": e.open_attribute,
            "methods": list(e.sharing_methods or []),
        }
        for e, o in pairs
        if catalog.can_view(session, actor, e)
    ]
