"""R15: a dispute over a provider's sharing attribute.

Providers label the sharing attribute of their data; when the authority disagrees it opens a dispute
(workflow kind attribute_dispute). The authority's coordinator talks with the provider: approve = the
provider agreed and the proposed attribute applies; escalate = talks failed and the municipal government
decides: approve = the proposed attribute is imposed, reject = the provider's attribute stands. Either
way the change is a new published version, and the engine seals the decision (R10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.schemas import EntryInput
from gongshu.catalog.validation import validate_entry
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind, Role
from gongshu.kernel.policy import service as policy_service
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.hooks import on_closed
from gongshu.kernel.workflow.models import Case, Step
from gongshu.kernel.workflow.notify import follow, users_with_role
from gongshu.kernel.workflow.steps import active_step, policy_of, step_label
from gongshu.kernel.workflow.visibility import can_view

KIND = "attribute_dispute"
SUBJECT_TYPE = "catalog_entry"
OPENER_ROLES = (Role.REVIEWER.value, Role.COORDINATOR.value)
# The entry's fields that the sharing attribute brings with it (R17 conditions, R18 legal basis, R19).
SHARING_FIELDS = ("sharing_attribute", "sharing_conditions", "legal_basis", "sharing_methods")


def require_authority(actor: Actor) -> None:
    """R15: the authority (its reviewers or coordinators) disputes a provider's attribute."""
    if actor.org_kind != OrgKind.AUTHORITY.value or not any(
        actor.has_role(r, actor.org_id) for r in OPENER_ROLES
    ):
        raise Forbidden(
            "dispute.not_authority",
            "只有市大数据主管部门的审核或协调人员可以对共享属性提出异议",
            "Only the authority's reviewers or coordinators may dispute a sharing attribute",
        )


def proposed_input(entry: CatalogEntry, proposed: dict[str, Any]) -> EntryInput:
    """The entry as it would be with the proposed sharing attribute (and what comes with it)."""
    return EntryInput.model_validate({**service.snapshot(entry), **proposed})


def _check_proposal(session: Session, entry: CatalogEntry, proposed: dict[str, Any]) -> None:
    """R15 R17 R18: the entry with the proposed attribute must meet the compilation specification —
    conditional data states its conditions, not-shared data names its legal basis."""
    errors = validate_entry(policy_service.at(session), proposed_input(entry, proposed))
    if errors:
        first = errors[0]
        raise ValidationFailed(
            "dispute.proposal_invalid",
            f"按所提共享属性，目录有 {len(errors)} 处不符合编制规范：{first.zh}",
            f"With the proposed attribute the entry has {len(errors)} error(s): {first.en}",
            field=first.field,
            details={"errors": [e.to_dict() for e in errors]},
        )


def open_dispute_for(session: Session, entry: CatalogEntry) -> Case | None:
    """The dispute over this entry still in progress, if any."""
    return session.scalar(
        select(Case).where(
            Case.kind == KIND, Case.subject_id == str(entry.id), Case.status.in_(("in_review", "returned"))
        )
    )


def open_dispute(
    session: Session,
    actor: Actor,
    entry_code: str,
    proposed_attribute: str,
    reasons: str,
    *,
    conditions: list[dict[str, str]] | None = None,
    legal_basis: str | None = None,
    sharing_methods: list[str] | None = None,
) -> Case:
    """R15: the authority disputes the provider's sharing attribute of a published entry."""
    require_authority(actor)
    entry = session.scalar(
        select(CatalogEntry).where(CatalogEntry.resource_code == (entry_code or "").strip())
    )
    if entry is None:
        raise NotFound("catalog.not_found", f"没有目录 {entry_code}", f"No catalog entry {entry_code}")
    if entry.status != "published":
        raise Conflict(
            "dispute.not_published",
            "只能对已发布目录的共享属性提出异议",
            "Only a published entry's sharing attribute can be disputed",
        )
    pol = policy_service.at(session)
    if proposed_attribute not in pol.keys("sharing_attributes"):
        raise ValidationFailed(
            "dispute.unknown_attribute",
            f"共享属性“{proposed_attribute}”不在政策 {pol.id} 规定的范围内",
            f"Sharing attribute {proposed_attribute!r} is not one of policy {pol.id}",
            field="proposed_attribute",
        )
    text = (reasons or "").strip()
    if not text:
        raise ValidationFailed(
            "dispute.reasons_required",
            "请写明提出异议的理由",
            "State the reasons of the dispute",
            field="reasons",
        )
    proposed: dict[str, Any] = {
        "sharing_attribute": proposed_attribute,
        "sharing_conditions": list(conditions or []) if proposed_attribute == "conditional" else [],
        "legal_basis": (legal_basis or "").strip() if proposed_attribute == "not_shared" else "",
        "sharing_methods": list(sharing_methods if sharing_methods is not None else entry.sharing_methods)
        if proposed_attribute != "not_shared"
        else [],
    }
    if proposed == {k: getattr(entry, k) for k in SHARING_FIELDS}:
        raise ValidationFailed(
            "dispute.nothing_changes",
            "所提共享属性及其条件与目录现状相同",
            "The proposal is the entry's current sharing attribute and conditions",
            field="proposed_attribute",
        )
    _check_proposal(session, entry, proposed)
    if open_dispute_for(session, entry) is not None:
        raise Conflict(
            "dispute.already_open",
            f"目录 {entry.resource_code} 已有共享属性争议在办理中",
            f"A dispute over entry {entry.resource_code} is already in progress",
        )
    case = engine.submit(
        session,
        actor,
        KIND,
        title=f"共享属性争议：{entry.name}",
        title_en=f"Sharing attribute dispute: {entry.name_en or entry.name}",
        subject_type=SUBJECT_TYPE,
        subject_id=entry.id,
        parties={"provider": entry.provider_org_id},
        payload={
            "resource_code": entry.resource_code,
            "current": {k: getattr(entry, k) for k in SHARING_FIELDS},
            "proposed": proposed,
            "reasons": text,
        },
    )
    # R15: the provider takes part in the talks: its catalog officers follow the case.
    follow(session, case, users_with_role(session, entry.provider_org_id, Role.CATALOG_OFFICER.value))
    record(
        session,
        actor,
        "catalog.dispute_open",
        object_type=SUBJECT_TYPE,
        object_id=entry.resource_code,
        detail={
            "case": case.number,
            "from": entry.sharing_attribute,
            "to": proposed_attribute,
            "reasons": text,
        },
    )
    return case


def _deciding_step(case: Case) -> Step | None:
    done = [s for s in case.steps if s.state == "done"]
    return done[-1] if done else None


@on_closed(KIND)
def _dispute_closed(session: Session, case: Case) -> None:
    """R15: approved (agreed with the provider, or imposed by the municipal government) → the proposed
    attribute becomes a new published version; rejected → the provider's attribute stands."""
    entry = session.get(CatalogEntry, int(case.subject_id)) if case.subject_id.isdigit() else None
    if entry is None or case.payload.get("applied_version"):
        return
    step = _deciding_step(case)
    who = {"step": step.name if step else None, "user_id": step.decided_by_user_id if step else None}
    why = step.reasons if step else None
    if case.status != "approved":
        record(
            session,
            None,
            "catalog.dispute_attribute_stands",
            object_type=SUBJECT_TYPE,
            object_id=entry.resource_code,
            detail={
                "case": case.number,
                "attribute": entry.sharing_attribute,
                "decided": who,
                "reasons": why,
            },
        )
        return
    proposed = dict(case.payload["proposed"])
    _check_proposal(session, entry, proposed)
    before = entry.sharing_attribute
    for key in SHARING_FIELDS:
        setattr(entry, key, proposed[key])
    session.flush()
    service.publish_version(session, entry, case)
    case.payload = {**case.payload, "applied_version": entry.current_version}
    session.flush()
    record(
        session,
        None,
        "catalog.dispute_attribute_changed",
        object_type=SUBJECT_TYPE,
        object_id=entry.resource_code,
        detail={
            "case": case.number,
            "from": before,
            "to": entry.sharing_attribute,
            "version": entry.current_version,
            "decided": who,
            "reasons": why,
        },
    )


@dataclass(frozen=True)
class DisputeRow:
    """A dispute as the list page shows it."""

    case: Case
    resource_code: str
    provider: str
    current: str
    proposed: str
    step: Step | None
    step_label: tuple[str, str]


def list_disputes(session: Session, actor: Actor, lang: str = "zh") -> list[DisputeRow]:
    """R15: the attribute disputes the actor may see, newest first."""
    rows: list[DisputeRow] = []
    for case in session.scalars(select(Case).where(Case.kind == KIND).order_by(Case.id.desc())):
        if not can_view(actor, case):
            continue
        provider = session.get(Organisation, int(case.parties.get("provider", 0)))
        step = active_step(case)
        rows.append(
            DisputeRow(
                case=case,
                resource_code=str(case.payload.get("resource_code", "")),
                provider=provider.name(lang) if provider else "",
                current=str(case.payload.get("current", {}).get("sharing_attribute", "")),
                proposed=str(case.payload.get("proposed", {}).get("sharing_attribute", "")),
                step=step,
                step_label=step_label(policy_of(session, case), case, step) if step else ("", ""),
            )
        )
    return rows
