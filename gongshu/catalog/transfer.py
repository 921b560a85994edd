"""R9: catalog transfer when duties move between departments.

The losing department applies jointly with the receiving department (workflow kind duty_transfer): the
receiving department consents, the authority reviews, and on the authority's approval the entries move to
the receiving department (a new published version of each records the new provider). The last step is the
receiving department's period — the policy's duty_transfer_update, counted from its start — to update the
catalog and re-aggregate the data; it completes it by approving that step."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog import service
from gongshu.catalog.models import CatalogEntry
from gongshu.kernel.audit.service import record
from gongshu.kernel.errors import Conflict, Forbidden, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation, OrgKind, Role, RoleAssignment, User
from gongshu.kernel.identity.organisations import find_org_by_code
from gongshu.kernel.workflow import engine
from gongshu.kernel.workflow.hooks import on_step_done
from gongshu.kernel.workflow.models import Case, Step
from gongshu.kernel.workflow.notify import follow
from gongshu.kernel.workflow.sla import SlaState, sla_state
from gongshu.kernel.workflow.steps import active_step, policy_of, step_label
from gongshu.kernel.workflow.visibility import can_view, get_case

KIND = "duty_transfer"
SUBJECT_TYPE = "duty_transfer"
MOVE_STEP = "authority_review"
UPDATE_STEP = "receiving_update"
APPLICANT_ROLES = (Role.CATALOG_OFFICER.value, Role.ORG_ADMIN.value)
TRANSFERABLE_TO = (OrgKind.DEPARTMENT.value, OrgKind.PUBLIC_SERVICE_ORG.value)
MAX_ENTRIES = 200


def _losing_department(session: Session, actor: Actor) -> Organisation:
    """R9 R5: the catalog officer or organisation administrator of the losing department applies."""
    org = session.get(Organisation, actor.org_id or 0)
    if (
        org is None
        or org.kind != OrgKind.DEPARTMENT.value
        or not any(actor.has_role(r, org.id) for r in APPLICANT_ROLES)
    ):
        raise Forbidden(
            "transfer.not_applicant",
            "只有职责调出部门的目录编制人员或单位管理员可以申请目录划转",
            "Only a catalog officer or organisation administrator of the losing department may apply",
        )
    return org


def _provided_by(session: Session, entry: CatalogEntry, losing: Organisation) -> bool:
    """R5: the department provides its own entries and those of the organisations it manages."""
    if entry.provider_org_id == losing.id:
        return True
    provider = session.get(Organisation, entry.provider_org_id)
    return (
        provider is not None
        and provider.kind == OrgKind.PUBLIC_SERVICE_ORG.value
        and provider.parent_id == losing.id
    )


def open_transfer_codes(session: Session) -> set[str]:
    """Resource codes held by a duty transfer still in progress."""
    cases = session.scalars(select(Case).where(Case.kind == KIND, Case.status.in_(("in_review", "returned"))))
    return {code for case in cases for code in case.payload.get("entry_codes", [])}


def _entries(session: Session, codes: list[str], losing: Organisation) -> list[CatalogEntry]:
    """R9: every entry must be published and provided by the losing department (or one it manages)."""
    clean = list(dict.fromkeys(c.strip() for c in codes if c and c.strip()))
    if not clean or len(clean) > MAX_ENTRIES:
        raise ValidationFailed(
            "transfer.entries_required",
            f"请列出要划转的目录（1至{MAX_ENTRIES}条）",
            f"List the entries to transfer (1 to {MAX_ENTRIES})",
            field="entry_codes",
        )
    busy = open_transfer_codes(session)
    entries: list[CatalogEntry] = []
    for code in clean:
        entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == code))
        if entry is None or not _provided_by(session, entry, losing):
            raise ValidationFailed(
                "transfer.not_provider",
                f"目录 {code} 不由本部门（或本部门管理的单位）提供，不能申请划转",
                f"Entry {code} is not provided by your department or an organisation it manages",
                field="entry_codes",
            )
        if entry.status != "published":
            raise ValidationFailed(
                "transfer.not_published",
                f"目录 {code} 尚未发布，不能划转",
                f"Entry {code} is not published; it cannot be transferred",
                field="entry_codes",
            )
        if code in busy:
            raise Conflict(
                "transfer.already_open",
                f"目录 {code} 已在另一项目录划转中",
                f"Entry {code} is already part of a transfer in progress",
                field="entry_codes",
            )
        entries.append(entry)
    return entries


def _receiving(session: Session, code: str, losing: Organisation) -> Organisation:
    org = find_org_by_code(session, (code or "").strip())
    if org is None or org.kind not in TRANSFERABLE_TO or not org.active:
        raise ValidationFailed(
            "transfer.receiving_unknown",
            f"没有接收部门“{code}”",
            f"No receiving department {code!r}",
            field="receiving_org_code",
        )
    if org.id == losing.id:
        raise ValidationFailed(
            "transfer.same_department",
            "接收部门不能是本部门",
            "The receiving department cannot be your own",
            field="receiving_org_code",
        )
    return org


def org_user_ids(session: Session, org_id: int) -> list[int]:
    """The active users holding any role in an organisation (its officers)."""
    query = (
        select(User.id)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.organisation_id == org_id, User.active.is_(True))
        .order_by(User.id)
    )
    return list(dict.fromkeys(session.scalars(query)))


def apply_transfer(
    session: Session, actor: Actor, *, entry_codes: list[str], receiving_org_code: str, reasons: str
) -> Case:
    """R9: the losing department applies, jointly with the receiving department, to move its entries."""
    losing = _losing_department(session, actor)
    entries = _entries(session, entry_codes, losing)
    receiving = _receiving(session, receiving_org_code, losing)
    text = (reasons or "").strip()
    if not text:
        raise ValidationFailed(
            "transfer.reasons_required",
            "请说明职责调整的依据和理由",
            "State the grounds of the change of duties",
            field="reasons",
        )
    case = engine.submit(
        session,
        actor,
        KIND,
        title=f"目录划转：{losing.name_zh} → {receiving.name_zh}（{len(entries)}条）",
        title_en=f"Catalog transfer: {losing.name('en')} → {receiving.name('en')} "
        f"({len(entries)} {'entry' if len(entries) == 1 else 'entries'})",
        subject_type=SUBJECT_TYPE,
        subject_id=losing.id,
        parties={"receiving": receiving.id, "losing": losing.id},
        payload={
            "entry_codes": [e.resource_code for e in entries],
            "entries": [
                {"resource_code": e.resource_code, "name": e.name, "from_provider_org_id": e.provider_org_id}
                for e in entries
            ],
            "reasons": text,
        },
        applicant_org_id=losing.id,
    )
    # R9: an overdue transfer concerns both departments: the losing department's officers follow it too.
    follow(session, case, org_user_ids(session, losing.id))
    record(
        session,
        actor,
        "catalog.transfer_apply",
        object_type="case",
        object_id=case.id,
        detail={"number": case.number, "receiving": receiving.code, "entries": case.payload["entry_codes"]},
    )
    return case


@on_step_done(KIND)
def _move_on_approval(session: Session, case: Case, step: Step) -> None:
    """R9: once the authority approves, the entries move to the receiving department, each as a new
    published version; the receiving department's update period then starts."""
    if step.name != MOVE_STEP or step.decision != "approve" or case.payload.get("moved"):
        return
    receiving = int(case.parties["receiving"])
    moved: list[str] = []
    for item in case.payload.get("entries", []):
        code = item["resource_code"]
        entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_code == code))
        if (
            entry is None
            or entry.status != "published"
            or entry.provider_org_id != item["from_provider_org_id"]
        ):
            raise Conflict(
                "transfer.entry_changed",
                f"目录 {code} 在申请后已撤销或变更提供单位，请退回申请",
                f"Entry {code} was withdrawn or changed provider after the application; return the case",
            )
        entry.provider_org_id = receiving
        session.flush()
        service.publish_version(session, entry, case)
        record(
            session,
            None,
            "catalog.transfer_move",
            object_type="catalog_entry",
            object_id=code,
            detail={
                "case": case.number,
                "from": item["from_provider_org_id"],
                "to": receiving,
                "version": entry.current_version,
            },
        )
        moved.append(code)
    case.payload = {**case.payload, "moved": moved}
    session.flush()


def confirm_transfer_update(session: Session, actor: Actor, case_id: int, note: str = "") -> Case:
    """R9: the receiving department declares the catalog updated and the data re-aggregated."""
    case = get_case(session, actor, case_id, for_update=True)
    step = active_step(case)
    if case.kind != KIND or step is None or step.name != UPDATE_STEP:
        raise Conflict(
            "transfer.not_updating",
            f"案件 {case.number} 不在“更新目录并重新汇聚”环节",
            f"Case {case.number} is not at the update-and-re-aggregate step",
        )
    return engine.decide(session, actor, case.id, "approve", note)


@dataclass(frozen=True)
class TransferRow:
    """A transfer as the list page shows it."""

    case: Case
    losing: str
    receiving: str
    step: Step | None
    step_label: tuple[str, str]
    due_on: dt.date | None
    sla: SlaState | None


def list_transfers(
    session: Session, actor: Actor, *, in_progress: bool = True, lang: str = "zh"
) -> list[TransferRow]:
    """R9: transfers the actor may see (in progress by default), the earliest due first."""
    query = select(Case).where(Case.kind == KIND)
    if in_progress:
        query = query.where(Case.status.in_(("in_review", "returned")))
    rows: list[TransferRow] = []
    for case in session.scalars(query.order_by(Case.id.desc())):
        if not can_view(actor, case):
            continue
        names = {
            o.id: o.name(lang)
            for o in session.scalars(select(Organisation).where(Organisation.id.in_(case.parties.values())))
        }
        step = active_step(case)
        rows.append(
            TransferRow(
                case=case,
                losing=names.get(case.parties.get("losing", 0), ""),
                receiving=names.get(case.parties.get("receiving", 0), ""),
                step=step,
                step_label=step_label(policy_of(session, case), case, step) if step else ("", ""),
                due_on=step.due_on if step else None,
                sla=sla_state(session, step) if step else None,
            )
        )
    rows.sort(key=lambda r: (r.due_on is None, r.due_on or dt.date.max))
    return rows


def transferable_entries(session: Session, actor: Actor) -> list[CatalogEntry]:
    """R9: the published entries the actor's department may apply to transfer (not already in one)."""
    if actor.org_id is None:
        return []
    busy = open_transfer_codes(session)
    query = (
        select(CatalogEntry)
        .where(
            CatalogEntry.status == "published",
            CatalogEntry.provider_org_id.in_({actor.org_id, *actor.managed_org_ids}),
        )
        .order_by(CatalogEntry.resource_code)
    )
    return [e for e in session.scalars(query) if e.resource_code not in busy]


def receiving_choices(session: Session, actor: Actor) -> list[Organisation]:
    """R9: the departments (and public service organisations) that may receive the duties."""
    query = (
        select(Organisation)
        .where(Organisation.kind.in_(TRANSFERABLE_TO), Organisation.active.is_(True))
        .order_by(Organisation.code)
    )
    return [o for o in session.scalars(query) if o.id != actor.org_id]
