"""R13 R26: completion reads another resource's data — the access decision point decides it.

A `complete` rule fills a missing item of a provider's resource from a reference resource, matched by
key. That is a read of the reference's data by the provider organisation, copied into the provider's own
resource (which may be shared or open): it is allowed only as far as `access.decide_data` lets the
provider organisation read the reference's `reference_item` and `reference_key` — its own resource (or
one of an organisation it manages, R5), an unconditional resource for a stated scenario (R16), or under a
live grant to the provider organisation covering both items (R17). It is decided when the rule is set
(`quality.rules.set_rules`), again at every load that completes (a grant may have expired or been revoked
since) and at the check before a load (`aggregation.precheck`); an allowed completion at a load is
audited as a read of the reference resource with the keyed hashes of the subjects read (R26 data
tracker).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import data_resource, subject_key_items
from gongshu.kernel.access.models import Grant
from gongshu.kernel.access.service import (
    MESSAGES,
    AccessDenied,
    DataDecision,
    DataResource,
    decide_data,
    record_denial,
)
from gongshu.kernel.audit.service import record
from gongshu.kernel.db import session_scope
from gongshu.kernel.errors import Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind, Role
from gongshu.quality.rulespec import RuleSpec

REFUSED = "quality.reference_not_allowed"
METHOD = "completion"  # how the audit log names a completion's read (`detail.method`)
GRANT_METHOD = "api"  # the delivery method decided on when the rule names no grant of its own
ROWS_LIMITED = "quality.reference_rows_limited"
_REASONS: dict[str, tuple[str, str]] = {
    **MESSAGES,
    ROWS_LIMITED: (
        "该授权只覆盖参照资源的部分记录，不能用于按主键补全",
        "The grant covers only some records of the reference; it cannot serve a completion by key",
    ),
}


def provider_actor(session: Session, org_id: int) -> Actor:
    """R5 R13: the provider organisation as the reader of a completion's reference — its data officer
    role, acting for the public service organisations it manages when it is a department (as its users
    do). Grants bind to organisations (R17), so the provider's grants, not the caller's, decide."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound("store.resource_unknown", "资源的提供单位不存在", "The resource's provider is unknown")
    managed: frozenset[int] = frozenset()
    if org.kind == OrgKind.DEPARTMENT.value:
        managed = frozenset(
            session.scalars(
                select(Organisation.id).where(
                    Organisation.parent_id == org.id,
                    Organisation.kind == OrgKind.PUBLIC_SERVICE_ORG.value,
                    Organisation.active.is_(True),
                )
            )
        )
    return Actor(
        user_id=None,
        username=f"completion@{org.code}",
        display_name=f"{org.name_zh}（数据补全）",
        org_id=org.id,
        org_kind=org.kind,
        org_code=org.code,
        roles=frozenset({(org.id, Role.DATA_OFFICER.value)}),
        managed_org_ids=managed,
        via="job",
    )


def reference_items(session: Session, params: dict[str, Any]) -> tuple[str, str]:
    """R13: the reference's item read and the key matched (default: the reference resource's key)."""
    from gongshu.store import service as store

    key = params.get("reference_key") or store.get_resource(session, str(params["reference"])).key_item
    return str(params["reference_item"]), str(key)


def decide_reference(
    session: Session, provider_org_id: int, params: dict[str, Any], *, at: dt.datetime | None = None
) -> tuple[DataResource, DataDecision]:
    """R13 R15–R18 R26: may the provider organisation read the reference items of a completion rule? The
    access decision point answers for the provider organisation, for the rule's scenario; a rule naming a
    grant (`grant`) is decided under that grant only (its scenario and delivery method). A grant limited
    to some rows (a row filter) cannot serve a completion by key: refused."""
    reference = data_resource(session, str(params["reference"]))
    items = list(dict.fromkeys(reference_items(session, params)))
    scenario = params.get("scenario")
    method = GRANT_METHOD
    grant_id = params.get("grant")
    if grant_id is not None:
        grant = session.get(Grant, int(grant_id))
        if grant is not None:
            method = grant.delivery_method
            scenario = scenario or grant.scenario
    decision = decide_data(
        session,
        provider_actor(session, provider_org_id),
        reference,
        scenario=str(scenario) if scenario is not None else None,
        items=items,
        method=method,
        at=at,
        grant_id=int(grant_id) if grant_id is not None else None,
    )
    if decision.allowed and decision.row_filter:
        decision = DataDecision(False, ROWS_LIMITED)
    return reference, decision


def enforce_reference(
    session: Session,
    actor: Actor,
    provider_org_id: int,
    params: dict[str, Any],
    *,
    field: str,
    path: str = "",
    at: dt.datetime | None = None,
) -> DataDecision:
    """R13 R26: `decide_reference`, a refusal raised as AccessDenied (403 `quality.reference_not_allowed`,
    the decision's reason in `details.reason`), carrying the audit entry of the refused read."""
    reference, decision = decide_reference(session, provider_org_id, params, at=at)
    if decision.allowed:
        return decision
    why_zh, why_en = _REASONS.get(decision.reason, MESSAGES["access.no_rule"])
    code = reference.resource_id
    items = list(reference_items(session, params))
    exc = AccessDenied(
        REFUSED,
        f"{field}：补全规则不得读取参照资源 {code} 的信息项 {'、'.join(items)}——{why_zh}",
        f"{field}: the completion rule may not read items {', '.join(items)} of the reference "
        f"resource {code} — {why_en}",
        actor=actor,
        resource_id=code,
        scenario=params.get("scenario"),
        detail={
            "reason": decision.reason,
            "method": METHOD,
            "path": path,
            "items": items,
            "for_org": provider_org_id,
            "grant": params.get("grant"),
        },
    )
    exc.field = field
    exc.details = {"reason": decision.reason, "reference": code, "items": items}
    raise exc


def enforce_references(
    session: Session, actor: Actor, resource_code: str, rules: Sequence[RuleSpec], *, path: str = ""
) -> list[tuple[RuleSpec, DataDecision]]:
    """R13 R26: decide every completion rule of a resource now (a load, a check before a load); the first
    refused raises (`enforce_reference`). Returns each completion rule with its decision."""
    from gongshu.store import service as store

    out: list[tuple[RuleSpec, DataDecision]] = []
    provider: int | None = None
    for n, rule in enumerate(rules):
        if rule.kind != "complete":
            continue
        if provider is None:
            provider = store.provider_of(session, resource_code)
        out.append(
            (rule, enforce_reference(session, actor, provider, rule.params, field=f"rules[{n}]", path=path))
        )
    return out


# R13: how a value is stored (`store.tables`): a completion copies and matches within one of these.
_STORED = {
    "integer": "integer",
    "decimal": "decimal",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
}


def _stored(item: dict[str, Any]) -> str:
    return _STORED.get(str(item.get("data_type")), "text")


def _fits(target: dict[str, Any], source: dict[str, Any]) -> bool:
    """R13: does every value of `source` fit `target` as stored (same kind; a bounded text no shorter)?"""
    if _stored(target) != _stored(source):
        return False
    if _stored(target) != "text" or not target.get("length"):
        return True
    return bool(source.get("length")) and int(source["length"]) <= int(target["length"])


def check_reference(
    session: Session,
    actor: Actor,
    resource: Any,
    provider_org_id: int,
    item: str,
    params: dict[str, Any],
    field: str,
) -> DataDecision:
    """R13 R26: a completion rule of `resource` (its provider `provider_org_id`) filling `item` is usable
    and allowed — the reference resource exists (404 `quality.reference_unknown`) and is published (422
    `quality.reference_not_published`); `reference_item` and `reference_key` are items of it, the key its
    key (one record per key), and `by` an item of `resource` (422 `quality.rule_invalid`); the values fit
    the items they are copied into and compared with; and the access decision point lets the provider
    organisation read those items (403 `quality.reference_not_allowed`, `enforce_reference`)."""
    from gongshu.quality.rules import rule_invalid
    from gongshu.store import service as store

    code = str(params["reference"])
    ref = store.find_resource(session, code)
    if ref is None:
        raise NotFound(
            "quality.reference_unknown",
            f"{field}：参照资源不存在：{code}",
            f"{field}: no reference resource {code}",
            field=field,
        )
    if not data_resource(session, code).published:
        raise ValidationFailed(
            "quality.reference_not_published",
            f"{field}：参照资源 {code} 未发布，不能用于补全",
            f"{field}: the reference resource {code} is not published; it cannot serve a completion",
            field=field,
        )
    own = {str(i["name"]): i for i in resource.items}
    theirs = {str(i["name"]): i for i in ref.items}
    ref_item, ref_key = str(params["reference_item"]), params.get("reference_key") or ref.key_item
    by = params.get("by") or resource.key_item
    if item == resource.key_item:
        raise rule_invalid(field, f"主键 {item} 不能补全", f"The key {item} cannot be completed")
    if ref_item not in theirs:
        raise rule_invalid(
            field, f"参照资源 {code} 没有信息项：{ref_item}", f"The reference {code} has no item {ref_item}"
        )
    if ref_key not in theirs or ref_key != ref.key_item:
        raise rule_invalid(
            field,
            f"reference_key 应为参照资源 {code} 的主键信息项（每个键只对应一条记录）：{ref_key}",
            f"`reference_key` must be the key item of the reference {code} (one record per key): {ref_key}",
        )
    if by not in own:
        raise rule_invalid(
            field,
            f"by 应为本资源的信息项：{by}（本资源没有主键时必须指定）",
            f"`by` must be an item of this resource: {by} (required when the resource has no key)",
        )
    if not _fits(own[item], theirs[ref_item]):
        raise rule_invalid(
            field,
            f"参照信息项 {ref_item} 的类型或长度与被补全的信息项 {item} 不符",
            f"The type or length of the reference item {ref_item} does not fit the item {item}",
        )
    if _stored(own[by]) != _stored(theirs[ref_key]):
        raise rule_invalid(
            field,
            f"匹配信息项 {by} 与参照主键 {ref_key} 的类型不同",
            f"The matching item {by} and the reference key {ref_key} differ in type",
        )
    return enforce_reference(
        session, actor, provider_org_id, {**params, "reference_key": ref_key}, field=field, path="rules"
    )


def audited_refusal(exc: AccessDenied, url: str | None = None, session: Session | None = None) -> Forbidden:
    """R26: record a refused completion read (in `session`, or a transaction of its own) and return the
    refusal as a plain Forbidden — the caller raises it, and no later layer records it a second time."""
    if session is not None:
        record_denial(session, exc)
    else:
        with session_scope(url) as s:
            record_denial(s, exc)
    return Forbidden(exc.code, exc.message_zh, exc.message_en, field=exc.field, details=exc.details)


@dataclass(frozen=True)
class CompletionRead:
    """R26: what one completion at a load read of its reference resource — recorded with the batch."""

    reference: str
    item: str
    items: tuple[str, ...]
    decision: DataDecision
    records: int
    subject_values: tuple[str, ...] = ()


def subject_columns(session: Session, reference: str, items: Sequence[str]) -> tuple[bool, bool]:
    """R26: are the completion's reference key and reference item (in that order) subject keys (ID
    numbers, USCCs) whose values the read's audit entry records, hashed?"""
    subjects = set(subject_key_items(session, reference))
    return items[1] in subjects, items[0] in subjects


def audit_completion_reads(
    session: Session, actor: Actor, resource_code: str, batch_id: int, reads: Sequence[CompletionRead]
) -> None:
    """R26: one `data.read` entry per completion of a committed batch, in its transaction — the reference
    resource, the items read, how many records were completed, the basis, grant and scenario of the
    decision, and the keyed hashes of the subjects read (never the keys themselves)."""
    for read in reads:
        record(
            session,
            actor,
            "data.read",
            object_type="resource",
            object_id=read.reference,
            grant_id=read.decision.grant_id,
            scenario=read.decision.scenario,
            subject_keys=list(read.subject_values),
            detail={
                "method": METHOD,
                "basis": read.decision.basis,
                "records": read.records,
                "items": list(read.items),
                "into": resource_code,
                "item": read.item,
                "batch": batch_id,
            },
        )
