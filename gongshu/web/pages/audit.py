"""Auditor pages (R26–R28): search the audit log, export it, verify its SM3 hash chain.

An auditor of a department sees the entries of their own organisation only; an auditor or administrator
of the authority or the operator sees every entry (R27: the operator monitors; R28: the authority
supervises). The scope is passed to the query service as `org_id`, so it holds for every path.

R28 supervision works with what auditors know: a user's name as well as their username, a case number
(ML-2026-000112) as well as the case's internal id, and an object id always read together with its object
type (case 112 is not user 112). The actions and object types present in the log are offered as lists,
with their labels; entries link to the page of what they concern, and their details read as labels
(kinds, states, steps, decisions, ways, bases, organisations' names) with the recorded JSON kept whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import CHINA, as_utc, now
from gongshu.web.deps import require_role
from gongshu.web.i18n import gettext
from gongshu.web.pages.auth import KIND_LABELS as ORG_KIND_LABELS
from gongshu.web.pages.cases import DECISION_LABELS, ROLE_LABELS, STATUS_LABELS, viewable_case_ids
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/audit", include_in_schema=False)

Auditor = Annotated[Actor, Depends(require_role("auditor", "admin"))]
PAGE_SIZE = 50
SUPERVISING_KINDS = frozenset({"authority", "operator"})
FILTER_FIELDS = ("actor", "action", "object_type", "object_id", "outcome", "since", "until")
CASE_NUMBER = re.compile(r"[A-Za-z]{2}-\d{4}-\d{6}")  # engine.case_number: PREFIX-YEAR-NNNNNN
SYSTEM_LABEL = "system"


def audit_scope(session: Session, actor: Actor) -> int | None:
    """R27/R28: None (every entry) for an auditor or administrator of the authority or the operator;
    otherwise the organisation in which the actor holds the auditor role (their own comes first)."""
    from gongshu.kernel.identity.models import Organisation

    orgs = sorted({o for o, r in actor.roles if r in ("auditor", "admin")}, key=lambda o: o != actor.org_id)
    for org_id in orgs:
        org = session.get(Organisation, org_id)
        if org is not None and org.kind in SUPERVISING_KINDS:
            return None
    if not orgs:  # require_role let the actor in, so this cannot happen; refuse rather than widen
        raise ValidationFailed("audit.no_scope", "当前账号没有审计范围", "Your account has no audit scope")
    return orgs[0]


def _day(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            "audit.date",
            f"日期 {value} 应为 YYYY-MM-DD 格式",
            f"The date {value} must be YYYY-MM-DD",
            field=field,
        ) from None


class AuditForm:
    """The search form's fields (query string), shared by the page and the export."""

    def __init__(
        self,
        actor: Annotated[str, Query()] = "",
        action: Annotated[str, Query()] = "",
        object_type: Annotated[str, Query()] = "",
        object_id: Annotated[str, Query()] = "",
        outcome: Annotated[str, Query()] = "",
        since: Annotated[str, Query()] = "",
        until: Annotated[str, Query()] = "",
    ) -> None:
        self.values = {
            "actor": actor.strip(),
            "action": action.strip(),
            "object_type": object_type.strip(),
            "object_id": object_id.strip(),
            "outcome": outcome.strip(),
            "since": since.strip(),
            "until": until.strip(),
        }

    def filters(self, org_id: int | None, resolved: Resolved | None = None) -> dict[str, Any]:
        """The query service's filters (validated there), with the actor's scope; `resolved` replaces the
        user and the object as typed by what they name (`resolve`)."""
        v = self.values
        actor, object_type, object_id = v["actor"], v["object_type"], v["object_id"]
        if resolved is not None:
            actor, object_type, object_id = resolved.actor, resolved.object_type, resolved.object_id
        return {
            "actor": actor or None,
            "action_prefix": v["action"] or None,
            "object_type": object_type or None,
            "object_id": object_id or None,
            "outcome": v["outcome"] or None,
            "since": _day(v["since"], "since"),
            "until": _day(v["until"], "until"),
            "org_id": org_id,
        }

    def query(self, **extra: object) -> str:
        return urlencode({k: v for k, v in {**self.values, **extra}.items() if v not in ("", None)})


# --- what users know (R28): names, case numbers, typed objects ----------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One way to read an ambiguous search, as a link that searches it."""

    label: str
    query: str


@dataclass
class Resolved:
    """The user and the object as the log records them, read from what was typed (R28)."""

    actor: str
    object_type: str
    object_id: str
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (text, link text, link query)
    choices: list[Choice] = field(default_factory=list)  # when set, nothing is searched: the user chooses
    choice_prompt: str = ""


def _users_named(session: Session, text: str, scope: int | None) -> list[Any]:
    """The users `text` names: the one with that username; else those with that display name; else those
    whose display name holds it ("陈静" names "主管部门审核员 陈静"). Within the auditor's scope, so that a
    department's auditor learns no other organisation's staff."""
    from gongshu.kernel.identity.models import User

    def where(condition: Any) -> list[Any]:
        stmt = select(User).where(condition)
        if scope is not None:
            stmt = stmt.where(User.organisation_id == scope)
        return list(session.scalars(stmt.order_by(User.username).limit(20)))

    return (
        where(User.username == text)
        or where(User.display_name == text)
        or where(User.display_name.contains(text, autoescape=True))
    )


def resolve(
    session: Session, form: AuditForm, scope: int | None, lang: str, labels: Mapping[str, str]
) -> Resolved:
    """R28: the user filter accepts a username or a display name; the object filter a case number, or an
    id read with its object type: without a type, an id that names objects of several types asks which
    one (case 112 or user 112) instead of mixing them. Raises `ValidationFailed` for a case number that
    names no case (with the field, so the page marks it and keeps what was typed)."""
    from gongshu.kernel.audit.models import AuditEntry
    from gongshu.kernel.workflow.models import Case

    v = form.values
    out = Resolved(v["actor"], v["object_type"], v["object_id"])
    typed_actor = v["actor"]
    if typed_actor and typed_actor != SYSTEM_LABEL:
        users = _users_named(session, typed_actor, scope)
        if len(users) == 1 and users[0].username != typed_actor:
            out.actor = users[0].username
            out.notes.append(
                (
                    gettext(lang, "“{name}” is the user {username}.", name=typed_actor, username=out.actor),
                    "",
                    "",
                )
            )
        elif len(users) > 1:
            out.choice_prompt = gettext(
                lang, "Several users are named “{name}”: choose one.", name=typed_actor
            )
            out.choices = [
                Choice(
                    f"{u.display_name}（{u.username}）"
                    if lang == "zh"
                    else f"{u.display_name} ({u.username})",
                    form.query(actor=u.username),
                )
                for u in users
            ]
            return out
    oid, otype = v["object_id"], v["object_type"]
    if not oid:
        return out
    if CASE_NUMBER.fullmatch(oid) and otype in ("", "case"):
        number = oid.upper()
        case = session.scalar(select(Case).where(Case.number == number))
        if case is None:
            raise ValidationFailed(
                "audit.case_unknown",
                f"没有编号为 {number} 的案件",
                f"No case is numbered {number}",
                field="object_id",
            )
        out.object_type, out.object_id = "case", str(case.id)
        note = gettext(lang, "Case {number} is recorded as case {id}.", number=number, id=case.id)
        subject = _case_subject(session, case)
        if subject is None:
            out.notes.append((note, "", ""))
        else:
            stype, sid = subject
            link = gettext(lang, "Entries about its {type} {id}", type=labels.get(stype, stype), id=sid)
            out.notes.append((note, link, form.query(object_type=stype, object_id=sid)))
        return out
    if otype == "user" and not oid.isdigit():
        users = _users_named(session, oid, scope)
        if len(users) == 1:
            out.object_id = str(users[0].id)
            return out
    if otype:
        return out
    counts = select(AuditEntry.object_type, func.count()).where(AuditEntry.object_id == oid)
    if scope is not None:
        counts = counts.where(AuditEntry.actor_org_id == scope)
    found = [(str(t), int(n)) for t, n in session.execute(counts.group_by(AuditEntry.object_type)) if t]
    if len(found) == 1:
        out.object_type = found[0][0]
    elif len(found) > 1:
        out.choice_prompt = gettext(
            lang, "The id {id} names objects of several types: choose the object type.", id=oid
        )
        out.choices = [
            Choice(
                gettext(
                    lang,
                    "{type} {id} ({n} entries)",
                    type=labels.get(t, t),
                    id=_object_name(session, t, oid, lang),
                    n=n,
                ),
                form.query(object_type=t),
            )
            for t, n in sorted(found)
        ]
    return out


def _key(text: object) -> int | None:
    """An internal id as typed or recorded ("112"), or None (so that "１１２" or a 30-digit number never
    reaches the database as an id)."""
    value = str(text)
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def _object_name(session: Session, object_type: str, object_id: str, lang: str) -> str:
    """An object as users know it: a case by its number, a user by username, an organisation by name."""
    from gongshu.kernel.identity.models import Organisation, User
    from gongshu.kernel.workflow.models import Case

    key = _key(object_id)
    if key is None:
        return object_id
    name: str | None = None
    if object_type == "case":
        name = session.scalar(select(Case.number).where(Case.id == key))
    elif object_type == "user":
        name = session.scalar(select(User.username).where(User.id == key))
    elif object_type == "organisation":
        org = session.get(Organisation, key)
        name = None if org is None else (org.name_zh if lang == "zh" else org.name_en or org.code)
    return name or object_id


def _case_subject(session: Session, case: Any) -> tuple[str, str] | None:
    """The object a case is about, as the log names it (a catalog entry by its resource code)."""
    from gongshu.catalog.data_view import entry_by_id

    stype, sid = case.subject_type or "", case.subject_id or ""
    if not stype or not sid:
        return None
    if stype == "catalog_entry" and _key(sid) is not None:
        entry = entry_by_id(session, int(sid))
        return None if entry is None else (stype, entry.resource_code)
    return stype, sid


# --- how an entry reads (R26): labels in the page language, the recorded JSON kept beside them --------------


def _action_labels(lang: str) -> dict[str, str]:
    """The audited actions (grep `record(`, `audit_read(`, `_audit(`); an unknown action shows its code."""
    return {
        "aggregation.freshness_alarm": gettext(lang, "Data freshness alarm"),
        "aggregation.freshness_restored": gettext(lang, "Data freshness restored"),
        "aggregation.pull_registered": gettext(lang, "Scheduled pull registered"),
        "aggregation.pull_run": gettext(lang, "Scheduled pull run"),
        "aggregation.pull_paused": gettext(lang, "Scheduled pull paused"),
        "aggregation.pull_resumed": gettext(lang, "Scheduled pull resumed"),
        "aggregation.pull_rescheduled": gettext(lang, "Scheduled pull rescheduled"),
        "aggregation.pull_deleted": gettext(lang, "Scheduled pull deleted"),
        "audit.export": gettext(lang, "Audit log exported"),
        "audit.verify": gettext(lang, "Audit log verified"),
        "auth.lockout": gettext(lang, "Account locked"),
        "auth.login": gettext(lang, "Logged in"),
        "auth.login_password_ok": gettext(lang, "Password accepted"),
        "auth.logout": gettext(lang, "Logged out"),
        "auth.sessions_revoke": gettext(lang, "Sessions ended"),
        "auth.token_issue": gettext(lang, "API token issued"),
        "auth.token_revoke": gettext(lang, "API token revoked"),
        "auth.totp_disable": gettext(lang, "Two-factor authentication disabled"),
        "auth.totp_enrol": gettext(lang, "Two-factor authentication enrolled"),
        "basedata.map": gettext(lang, "Base data mapped"),
        "catalog.change_refused": gettext(lang, "Catalog change refused"),
        "catalog.create_draft": gettext(lang, "Catalog draft created"),
        "catalog.dispute_attribute_changed": gettext(lang, "Disputed attribute changed"),
        "catalog.dispute_attribute_stands": gettext(lang, "Disputed attribute upheld"),
        "catalog.dispute_open": gettext(lang, "Catalog dispute opened"),
        "catalog.import": gettext(lang, "Catalog imported"),
        "catalog.propose_change": gettext(lang, "Catalog change proposed"),
        "catalog.publication_refused": gettext(lang, "Catalog publication refused"),
        "catalog.publish": gettext(lang, "Catalog entry published"),
        "catalog.submit": gettext(lang, "Catalog entry submitted"),
        "catalog.transfer_apply": gettext(lang, "Duty transfer applied for"),
        "catalog.transfer_move": gettext(lang, "Catalog entry transferred"),
        "catalog.update_draft": gettext(lang, "Catalog draft updated"),
        "catalog.withdraw": gettext(lang, "Catalog entry withdrawn"),
        "clock.notice_load": gettext(lang, "Holiday notice loaded"),
        "clock.notice_replace": gettext(lang, "Holiday notice replaced"),
        "data.read": gettext(lang, "Data read"),
        "delivery.db_target_registered": gettext(lang, "Database delivery target registered"),
        "delivery.file_schedule": gettext(lang, "File delivery scheduled"),
        "emergency.add_responder": gettext(lang, "Emergency responder added"),
        "emergency.add_task": gettext(lang, "Emergency data task added"),
        "emergency.close": gettext(lang, "Emergency closed"),
        "emergency.open": gettext(lang, "Emergency opened"),
        "emergency.submit": gettext(lang, "Emergency data submitted"),
        "grant.create": gettext(lang, "Sharing grant created"),
        "grant.revoke": gettext(lang, "Sharing grant revoked"),
        "interface.confirm": gettext(lang, "Data interface confirmed"),
        "interface.register": gettext(lang, "Data interface registered"),
        "it_project.register": gettext(lang, "IT project registered"),
        "it_project.request_acceptance": gettext(lang, "IT project acceptance requested"),
        "it_project.accepted": gettext(lang, "IT project accepted"),
        "it_project.acceptance_refused": gettext(lang, "IT project acceptance refused"),
        "org.create": gettext(lang, "Organisation created"),
        "policy.load": gettext(lang, "Policy version loaded"),
        "quality.problems_read": gettext(lang, "Quality problems read"),
        "quality.recheck": gettext(lang, "Quality re-checked"),
        "quality.set_rules": gettext(lang, "Quality rules set"),
        "register.person": gettext(lang, "Person registered"),
        "register.legal_entity": gettext(lang, "Legal entity registered"),
        "return.register": gettext(lang, "Returned resource registered"),
        "return.resubmit": gettext(lang, "Returned resource resubmitted"),
        "seal.attach_document": gettext(lang, "Sealed document attached"),
        "seal.register_key": gettext(lang, "Seal key registered"),
        "seal.revoke_key": gettext(lang, "Seal key revoked"),
        "store.batch_commit": gettext(lang, "Batch committed"),
        "store.batch_failed": gettext(lang, "Batch failed"),
        "store.batch_start": gettext(lang, "Batch started"),
        "store.deidentify": gettext(lang, "Data de-identified"),
        "store.file_checked": gettext(lang, "File checked (nothing stored)"),
        "store.migrate": gettext(lang, "Data table migrated"),
        "store.provision": gettext(lang, "Data table provisioned"),
        "store.purge": gettext(lang, "Data purged"),
        "store.quarantine_read": gettext(lang, "Quarantined records read"),
        "store.record_read": gettext(lang, "Record and its history read"),
        "user.create": gettext(lang, "User created"),
        "user.password_set": gettext(lang, "Password set"),
        "user.role_grant": gettext(lang, "Role granted"),
        "workflow.attach": gettext(lang, "Attachment added"),
        "workflow.attachment_read": gettext(lang, "Attachment read"),
        "workflow.decide": gettext(lang, "Case step decided"),
        "workflow.due_soon": gettext(lang, "Case step due soon"),
        "workflow.escalate": gettext(lang, "Case escalated"),
        "workflow.notifications_read": gettext(lang, "Notifications read"),
        "workflow.overdue": gettext(lang, "Case step overdue"),
        "workflow.resubmit": gettext(lang, "Case resubmitted"),
        "workflow.submit": gettext(lang, "Case submitted"),
        "workflow.withdraw": gettext(lang, "Case withdrawn"),
    }


def _detail_labels(lang: str) -> dict[str, str]:
    """The keys the audited actions put in `detail`; an unknown key shows itself."""
    resource, organisation, records = (
        gettext(lang, "Resource"),
        gettext(lang, "Organisation"),
        gettext(lang, "Records"),
    )
    return {
        "after_failures": gettext(lang, "Failed attempts"),
        "anchor": gettext(lang, "Anchor"),
        "attachment_id": gettext(lang, "Attachment"),
        "attribute": gettext(lang, "Sharing attribute"),
        "base_code": gettext(lang, "Base resource"),
        "base_url": gettext(lang, "Base URL"),
        "basis": gettext(lang, "Basis"),
        "batch": gettext(lang, "Batch"),
        "by_rule": gettext(lang, "By rule"),
        "case": gettext(lang, "Case number"),
        "changed": gettext(lang, "Changed fields"),
        "channel": gettext(lang, "Channel"),
        "checked": gettext(lang, "Entries checked"),
        "code": gettext(lang, "Code"),
        "completed": gettext(lang, "Completed"),
        "consumer_org_id": gettext(lang, "Consumer organisation"),
        "count": gettext(lang, "Count"),
        "created": gettext(lang, "Drafts created"),
        "data_needs": gettext(lang, "Data needs"),
        "deadlines_recomputed": gettext(lang, "Deadlines recomputed"),
        "decided": gettext(lang, "Decided by"),
        "decision": gettext(lang, "Decision"),
        "deduplicated": gettext(lang, "Deduplicated"),
        "deleted": gettext(lang, "Deleted"),
        "digest": gettext(lang, "Digest (SM3)"),
        "document_id": gettext(lang, "Document"),
        "documents": gettext(lang, "Documents"),
        "due": gettext(lang, "Due"),
        "effective_from": gettext(lang, "Effective from"),
        "effective_to": gettext(lang, "Effective to"),
        "entries": gettext(lang, "Number of entries"),
        "error": gettext(lang, "Error message"),
        "event": gettext(lang, "Emergency event"),
        "events": gettext(lang, "Changes in the history"),
        "every_hours": gettext(lang, "Every (hours)"),
        "every_minutes": gettext(lang, "Every (minutes)"),
        "expected_by": gettext(lang, "Expected by"),
        "expires_at": gettext(lang, "Expires at"),
        "failures": gettext(lang, "Failed attempts"),
        "fields": gettext(lang, "Fields"),
        "file": gettext(lang, "File"),
        "filename": gettext(lang, "File name"),
        "files": gettext(lang, "Files"),
        "filters": gettext(lang, "Filters"),
        "first_bad_seq": gettext(lang, "First bad entry"),
        "first_event_id": gettext(lang, "First change event"),
        "format": gettext(lang, "File format"),
        "formats": gettext(lang, "Formats"),
        "found": gettext(lang, "Record found"),
        "from": gettext(lang, "Before"),
        "from_change": gettext(lang, "From change event"),
        "full": gettext(lang, "Full copy"),
        "grants_revoked": gettext(lang, "Grants revoked"),
        "holidays": gettext(lang, "Days off"),
        "inserted": gettext(lang, "Inserted"),
        "ip": gettext(lang, "IP address"),
        "item": gettext(lang, "Data item"),
        "items": gettext(lang, "Data items"),
        "key": gettext(lang, "Key item"),
        "kind": gettext(lang, "Kind"),
        "last_event_id": gettext(lang, "Last change event"),
        "legal_basis": gettext(lang, "Legal basis"),
        "level": gettext(lang, "Escalation level"),
        "manifest_sm3": gettext(lang, "Manifest (SM3)"),
        "method": gettext(lang, "Method"),
        "mode": gettext(lang, "Mode"),
        "name": gettext(lang, "Name"),
        "names": gettext(lang, "Names"),
        "number": gettext(lang, "Case number"),
        "offset": gettext(lang, "Offset"),
        "org": organisation,
        "org_id": organisation,
        "origin": gettext(lang, "Origin"),
        "outputs": gettext(lang, "Outputs"),
        "owner": gettext(lang, "Owner"),
        "package": gettext(lang, "Package"),
        "parent": gettext(lang, "Parent organisation"),
        "params": gettext(lang, "Parameters"),
        "parties": gettext(lang, "Parties"),
        "path": gettext(lang, "Path"),
        "prefix": gettext(lang, "Token prefix"),
        "problem": gettext(lang, "Problem"),
        "problem_records": gettext(lang, "Records with problems"),
        "problems": gettext(lang, "Problems"),
        "proposed": gettext(lang, "Proposed"),
        "provider_org_id": gettext(lang, "Provider organisation"),
        "public": gettext(lang, "Public"),
        "reason": gettext(lang, "Reason"),
        "reasons": gettext(lang, "Written reasons"),
        "received": gettext(lang, "Received"),
        "receiving": gettext(lang, "Receiving organisation"),
        "records": records,
        "refused": gettext(lang, "Refused"),
        "replaced_digest": gettext(lang, "Replaced digest"),
        "request_sm3": gettext(lang, "Request (SM3)"),
        "resource": resource,
        "resource_code": resource,
        "resource_id": resource,
        "resources": gettext(lang, "Resources"),
        "respondents": gettext(lang, "Respondents"),
        "responders": gettext(lang, "Responders"),
        "responsible": gettext(lang, "Responsible organisation"),
        "role": gettext(lang, "Role"),
        "roles": gettext(lang, "Roles"),
        "rows": gettext(lang, "Rows"),
        "rows_sm3": gettext(lang, "Rows (SM3)"),
        "rules": gettext(lang, "Rules"),
        "schema_version": gettext(lang, "Schema version"),
        "second_factor": gettext(lang, "Second factor"),
        "size": gettext(lang, "Size (bytes)"),
        "sm3": gettext(lang, "Hash (SM3)"),
        "source": gettext(lang, "Source"),
        "status": gettext(lang, "Status"),
        "step": gettext(lang, "Step"),
        "table": gettext(lang, "Table"),
        "title": gettext(lang, "Title"),
        "to": gettext(lang, "After"),
        "to_change": gettext(lang, "To change event"),
        "treatment": gettext(lang, "Treatment"),
        "until": gettext(lang, "Until"),
        "updated": gettext(lang, "Updated"),
        "upserted": gettext(lang, "Upserted"),
        "upstream": gettext(lang, "Upstream body"),
        "url": gettext(lang, "URL"),
        "username": gettext(lang, "Username"),
        "valid_to": gettext(lang, "Valid to"),
        "version": gettext(lang, "Version"),
        "via": gettext(lang, "Via"),
        "workdays": gettext(lang, "Adjusted working days"),
        "year": gettext(lang, "Year"),
    }


def _object_labels(lang: str) -> dict[str, str]:
    """The object types entries name; an unknown type shows its code."""
    return {
        "api_token": gettext(lang, "API token"),
        "audit_log": gettext(lang, "Audit log"),
        "base_data": gettext(lang, "Base data"),
        "batch": gettext(lang, "Batch"),
        "case": gettext(lang, "Case"),
        "catalog_entry": gettext(lang, "Catalog entry"),
        "catalog_import": gettext(lang, "Catalog import"),
        "db_target": gettext(lang, "Database delivery target"),
        "duty_transfer": gettext(lang, "Duty transfer"),
        "emergency_event": gettext(lang, "Emergency event"),
        "emergency_task": gettext(lang, "Emergency data task"),
        "file_schedule": gettext(lang, "File delivery schedule"),
        "grant": gettext(lang, "Grant"),
        "holiday_notice": gettext(lang, "Holiday notice"),
        "it_project": gettext(lang, "IT project"),
        "notification": gettext(lang, "Notification"),
        "organisation": gettext(lang, "Organisation unit"),
        "policy_version": gettext(lang, "Policy version"),
        "pull_source": gettext(lang, "Scheduled pull"),
        "resource": gettext(lang, "Resource"),
        "seal_key": gettext(lang, "Seal key"),
        "user": gettext(lang, "User"),
        "web_session": gettext(lang, "Session"),
    }


def _reason_phrases(lang: str) -> dict[str, str]:
    """Readable phrases of the reason and problem codes an entry records (shown beside the code)."""
    from gongshu.kernel.access.service import MESSAGES as ACCESS

    phrases = {code: zh if lang == "zh" else en for code, (zh, en) in ACCESS.items()}
    phrases.update(
        {
            "access.allowed": gettext(lang, "Allowed"),
            "access.other_organisation": gettext(lang, "Another organisation's data"),
            "access.no_role": gettext(lang, "No role allows this"),
            "account_disabled": gettext(lang, "The account is disabled"),
            "basedata.lookup_forbidden": gettext(lang, "Base data look-up not allowed"),
            "audit.ok": gettext(lang, "The chain is intact"),
            "audit.seq_gap": gettext(lang, "An entry is missing"),
            "audit.seq_order": gettext(lang, "An entry is out of sequence"),
            "audit.hash_mismatch": gettext(lang, "An entry does not match its hash"),
            "audit.broken_link": gettext(lang, "An entry does not link to the one before it"),
            "audit.anchor_mismatch": gettext(lang, "An entry differs from the anchor"),
            "audit.truncated": gettext(lang, "Entries were removed from the end"),
        }
    )
    return phrases


def _domain_labels(lang: str) -> dict[str, str]:
    """The areas actions belong to (the part before the dot), for the action list's groups."""
    return {
        "aggregation": gettext(lang, "Aggregation"),
        "audit": gettext(lang, "Audit log"),
        "auth": gettext(lang, "Sign-in and accounts"),
        "basedata": gettext(lang, "Base data"),
        "catalog": gettext(lang, "Data catalog"),
        "clock": gettext(lang, "Working-day calendar"),
        "data": gettext(lang, "Data reads"),
        "delivery": gettext(lang, "Data delivery"),
        "emergency": gettext(lang, "Emergencies"),
        "grant": gettext(lang, "Sharing grants"),
        "interface": gettext(lang, "Service interfaces"),
        "it_project": gettext(lang, "IT projects"),
        "org": gettext(lang, "Organisations"),
        "policy": gettext(lang, "Policy versions"),
        "quality": gettext(lang, "Data quality"),
        "register": gettext(lang, "Registration"),
        "return": gettext(lang, "Data return"),
        "seal": gettext(lang, "Electronic seals"),
        "sharing": gettext(lang, "Data sharing"),
        "store": gettext(lang, "Data store"),
        "user": gettext(lang, "Users"),
        "workflow": gettext(lang, "Case handling"),
    }


def _value_labels(lang: str) -> dict[str, dict[str, str]]:
    """Labels of the coded values entries record that no other page defines (by what they are)."""
    return {
        "via": {
            "my_data": gettext(lang, "My data page (the data subject)"),
            "objection": gettext(lang, "Objection handling"),
            "record_lookup": gettext(lang, "Record look-up"),
        },
        "basis": {
            "data_subject": gettext(lang, "The data subject's own records"),
            "grant": gettext(lang, "Sharing grant"),
            "provider": gettext(lang, "The provider's own data"),
            "unconditional": gettext(lang, "Unconditionally shared data"),
            "open_general": gettext(lang, "Generally open data"),
            "open_grant": gettext(lang, "Open data grant"),
            "supervision": gettext(lang, "Supervision by the authority"),
        },
        "origin": {
            "unconditional": gettext(lang, "Self-service for unconditional data"),
            "emergency": gettext(lang, "Emergency response"),
        },
        "mode": {"full": gettext(lang, "Full load"), "incremental": gettext(lang, "Incremental load")},
        "source": {"upload": gettext(lang, "File upload"), "pull": gettext(lang, "Scheduled pull")},
        "treatment": {
            "deidentify": gettext(lang, "De-identification"),
            "delete": gettext(lang, "Deletion"),
        },
        "login_step": {
            "password": gettext(lang, "Password step"),
            "totp": gettext(lang, "Second factor (TOTP)"),
        },
        "store_method": {"hash": gettext(lang, "Keyed hash")},
        "batch_status": {
            "committed": gettext(lang, "Committed"),
            "failed": gettext(lang, "Failed"),
        },
        "party": {
            "provider": gettext(lang, "Provider"),
            "receiving": gettext(lang, "Receiving organisation"),
            "losing": gettext(lang, "Losing organisation"),
            "respondent": gettext(lang, "Respondent"),
        },
    }


CODE_KEYS = frozenset({"reason", "problem"})
_CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
NESTED_MAX = 240  # characters of a nested value shown in the list (the whole record is in the JSON)
# Detail keys holding organisations: by id, and by code.
ORG_ID_KEYS = frozenset({"org_id", "consumer_org_id", "provider_org_id"})
ORG_CODE_KEYS = frozenset(
    {"org", "parent", "receiving", "losing", "responsible", "responders", "respondents"}
)
RESOURCE_KEYS = frozenset({"resource", "resource_code", "resource_id", "resources", "base_code"})
CASE_KEYS = frozenset({"case", "number"})


@dataclass(frozen=True)
class DetailField:
    key: str
    label: str  # in the page language; the key itself when unknown
    text: str  # the value as read
    code: str = ""  # a reason or problem code, shown in monospace beside its phrase (`text`)
    title: str = ""  # the recorded value, when `text` is a label of it (shown on hover)
    href: str = ""  # the page of what the value names (a case)


@dataclass(frozen=True)
class EntryView:
    action: str  # the action's label; its code when unknown
    known_action: bool
    object_type: str  # the object type's label; its code when unknown
    fields: tuple[DetailField, ...]
    raw: str  # the recorded detail, as the chain hashes it
    object_text: str = ""  # the object as users know it (a case by its number); its id otherwise
    href: str = ""  # the page of the object, where one exists and the auditor may open it
    actor_name: str = ""  # the user's display name, when it differs from the username


def _clip(text: str) -> str:
    return text if len(text) <= NESTED_MAX else text[: NESTED_MAX - 1] + "…"


def _compact(value: object) -> str:
    return _clip(json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str))


def china_instant(text: str) -> str:
    """An ISO instant with its zone (as entries record UTC instants), in China time to the minute."""
    try:
        return (
            as_utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
            .astimezone(CHINA)
            .strftime("%Y-%m-%d %H:%M")
        )
    except ValueError:
        return text


class Lookups:
    """What the entries of one page name, read once per request: organisations, users, cases, catalog
    entries and the workflow labels of the policy in force — so that details read as names (R26)."""

    def __init__(
        self, session: Session, actor: Actor, entries: list[Any], lang: str, *, data_page: bool = False
    ) -> None:
        from gongshu.catalog.data_view import entry_labels
        from gongshu.kernel.access.policy import Action
        from gongshu.kernel.access.service import decide
        from gongshu.kernel.identity.models import Organisation, User
        from gongshu.kernel.policy import service as policy_service
        from gongshu.kernel.workflow.models import Case

        self.lang, self.data_page = lang, data_page
        orgs = list(
            session.execute(
                select(Organisation.id, Organisation.code, Organisation.name_zh, Organisation.name_en)
            )
        )

        def name(code: str, zh: str, en: str) -> str:
            # English pages: the English name, or else the code as recorded (the log's own words)
            return zh if lang == "zh" else en or code

        self.org_by_id = {int(i): name(c, zh, en) for i, c, zh, en in orgs}
        self.org_by_code = {str(c): name(c, zh, en) for _, c, zh, en in orgs}
        user_ids: set[int] = {e.actor_user_id for e in entries if e.actor_user_id is not None}
        user_ids |= {
            int(e.object_id) for e in entries if e.object_type == "user" and _key(e.object_id) is not None
        }
        user_ids |= {
            int(e.detail["owner"])
            for e in entries
            if isinstance(e.detail, Mapping) and isinstance(e.detail.get("owner"), int)
        }
        self.users: dict[int, tuple[str, str]] = {}
        if user_ids:
            rows = session.execute(
                select(User.id, User.username, User.display_name).where(User.id.in_(user_ids))
            )
            self.users = {int(i): (str(u), str(d)) for i, u, d in rows}
        numbers = {
            str(e.detail[k])
            for e in entries
            if isinstance(e.detail, Mapping)
            for k in CASE_KEYS
            if isinstance(e.detail.get(k), str)
        }
        case_ids = {
            int(e.object_id) for e in entries if e.object_type == "case" and _key(e.object_id) is not None
        }
        cases = (
            list(
                session.execute(
                    select(Case.id, Case.number).where(Case.id.in_(case_ids) | Case.number.in_(numbers))
                )
            )
            if case_ids or numbers
            else []
        )
        self.case_number = {int(i): str(n) for i, n in cases}
        self.case_id = {str(n): int(i) for i, n in cases}
        self.viewable = viewable_case_ids(session, actor, self.case_number)
        self.entries = entry_labels(session)
        try:
            self.policy: Any = policy_service.at(session)
        except GongshuError:
            self.policy = None
        self.may_manage_emergencies = decide(session, actor, Action.EMERGENCY_MANAGE).allowed

    def case_href(self, case_id: int | None) -> str:
        return f"/cases/{case_id}" if case_id is not None and case_id in self.viewable else ""

    def resource(self, code: str) -> str:
        label = self.entries.get(code)
        if label is None:
            return code
        name = label.name if self.lang == "zh" or not label.name_en else label.name_en
        return f"{name}（{code}）" if self.lang == "zh" else f"{name} ({code})"

    def workflow_kind(self, kind: str) -> str | None:
        if self.policy is None or kind not in self.policy.doc.workflow_kinds:
            return None
        return str(self.policy.label("workflow_kinds", kind, self.lang))

    def step(self, kind: object, name: str) -> str | None:
        """A step's label: of the case's kind first, then the escalation steps, then any kind's."""
        if self.policy is None:
            return None
        doc = self.policy.doc
        specs = (
            list(doc.workflow_kinds[kind].steps)
            if isinstance(kind, str) and kind in doc.workflow_kinds
            else []
        )
        specs += list(doc.escalation) + [s for k in doc.workflow_kinds.values() for s in k.steps]
        for spec in specs:
            if spec.name == name:
                return str(spec.zh if self.lang == "zh" else spec.en)
        return None

    def method(self, method: str) -> str | None:
        if self.policy is None or method not in self.policy.doc.sharing_methods:
            return None
        return str(self.policy.label("sharing_methods", method, self.lang))

    def object_href(self, object_type: str, object_id: str) -> str:
        """The page of an entry's object (R28): a case, a catalog entry, a resource, an emergency."""
        if not object_id:
            return ""
        if object_type == "case" and _key(object_id) is not None:
            return self.case_href(int(object_id))
        if object_type in ("catalog_entry", "resource") and object_id in self.entries:
            # a resource's data page (/data/CODE) where the platform has one; else its catalog entry
            base = "/data" if object_type == "resource" and self.data_page else "/catalog"
            return f"{base}/{quote(object_id, safe='')}"
        if object_type == "emergency_event" and _key(object_id) is not None and self.may_manage_emergencies:
            return f"/emergency/{object_id}"
        return ""


class EntryLabels:
    """The labels of one page language, built once per request and applied to every entry shown."""

    def __init__(self, lang: str, lookups: Lookups | None = None) -> None:
        self.lang = lang
        self.actions = _action_labels(lang)
        self.keys = _detail_labels(lang)
        self.objects = _object_labels(lang)
        self.phrases = _reason_phrases(lang)
        self.values = _value_labels(lang)
        self.lookups = lookups
        from gongshu.sharing.emergency_closure import closure_reason_in

        self.reason_in = closure_reason_in  # R21: a closure's reason, in the page language
        self.yes, self.no = gettext(lang, "Yes"), gettext(lang, "No")
        self.joiner = "、" if lang == "zh" else ", "

    def value(self, value: object) -> str:
        if isinstance(value, bool):
            return self.yes if value else self.no
        if isinstance(value, str):
            return _clip(china_instant(value) if _INSTANT.fullmatch(value) else value)
        if isinstance(value, list | tuple | Mapping) and not value:
            return "—"
        if isinstance(value, list | tuple):
            parts = (_compact(v) if isinstance(v, list | tuple | Mapping) else self.value(v) for v in value)
            return _clip(self.joiner.join(parts))
        if isinstance(value, int | float):
            return str(value)
        return _compact(value)  # a nested object, compact

    def _each(self, value: object, label: Callable[[str], str | None]) -> str | None:
        """A code or a list of codes, each by its label (None when none of them has one)."""
        codes = [value] if isinstance(value, str | int) and not isinstance(value, bool) else value
        if not isinstance(codes, list | tuple) or not codes:
            return None
        labels = [label(str(c)) if isinstance(c, str | int) else None for c in codes]
        if all(x is None for x in labels):
            return None
        return _clip(self.joiner.join(x or str(c) for x, c in zip(labels, codes, strict=True)))

    def _label(self, action: str, key: str, value: object, detail: Mapping[str, Any]) -> str | None:
        """The label of a coded value, read in the context of its action (a workflow "kind" is a case
        kind, an org.create "kind" an organisation kind); None when the value has none."""
        lk, lang, domain = self.lookups, self.lang, action.partition(".")[0]
        if isinstance(value, str) and value == "":
            return None
        if key == "reason" and isinstance(value, str):
            shown = self.reason_in(value, lang)
            return shown if shown != value else None
        if key == "kind" and isinstance(value, str):
            if domain == "org":
                return gettext(lang, ORG_KIND_LABELS[value]) if value in ORG_KIND_LABELS else None
            return lk.workflow_kind(value) if lk else None
        if key == "status" and isinstance(value, str):
            table = STATUS_LABELS if domain == "workflow" else self.values["batch_status"]
            return gettext(lang, table[value]) if value in table else None
        if key == "step" and isinstance(value, str):
            if domain == "auth":
                return self.values["login_step"].get(value)
            return lk.step(detail.get("kind"), value) if lk else None
        if key == "decision" and isinstance(value, str):
            return gettext(lang, DECISION_LABELS[value]) if value in DECISION_LABELS else None
        if key in ("via", "basis", "origin", "mode", "source", "treatment") and isinstance(value, str):
            found = self.values[key].get(value)
            if found is None and key == "origin" and lk:
                return lk.workflow_kind(value)
            return found
        if key == "method" and isinstance(value, str):
            if domain == "store":
                return self.values["store_method"].get(value)
            return lk.method(value) if lk else None
        if key in ("role", "roles"):
            return self._each(value, self._role)
        if lk is None:
            return None
        if key in ORG_ID_KEYS:
            return self._each(value, lambda c: lk.org_by_id.get(int(c)) if _key(c) is not None else None)
        if key in ORG_CODE_KEYS:
            return self._each(value, lambda c: lk.org_by_code.get(c))
        if key == "owner" and isinstance(value, int) and value in lk.users:
            username, display = lk.users[value]
            return display if display == username else f"{display}（{username}）"
        if key == "parties" and isinstance(value, Mapping) and value:
            sep = "：" if lang == "zh" else ": "
            return self.joiner.join(
                f"{self.values['party'].get(str(k), str(k))}{sep}"
                f"{lk.org_by_id.get(v, str(v)) if isinstance(v, int) else v}"
                for k, v in value.items()
            )
        if key in RESOURCE_KEYS or (key == "entries" and isinstance(value, list)):
            return self._each(value, lambda c: lk.resource(c) if c in lk.entries else None)
        return None

    def _role(self, text: str) -> str | None:
        """A role ("reviewer") or a role held in an organisation ("power:catalog_officer")."""
        org, _, role = text.rpartition(":")
        if role not in ROLE_LABELS:
            return None
        label = gettext(self.lang, ROLE_LABELS[role])
        if not org:
            return label
        name = self.lookups.org_by_code.get(org, org) if self.lookups else org
        return f"{name}·{label}" if self.lang == "zh" else f"{name} · {label}"

    def field(
        self, key: str, value: object, action: str = "", detail: Mapping[str, Any] | None = None
    ) -> DetailField:
        label = self.keys.get(key, key)
        if key in CODE_KEYS and isinstance(value, str):
            code = value.strip()
            if code in self.phrases:
                return DetailField(key, label, self.phrases[code], code)
            if _CODE.fullmatch(code):
                return DetailField(key, label, "", code)
        if key in CASE_KEYS and isinstance(value, str) and self.lookups is not None:
            return DetailField(
                key, label, value, href=self.lookups.case_href(self.lookups.case_id.get(value))
            )
        shown = self._label(action, key, value, detail or {})
        if shown is not None:
            return DetailField(
                key, label, shown, title=_compact(value) if not isinstance(value, str) else value
            )
        return DetailField(key, label, self.value(value))

    def entry(
        self,
        action: str,
        object_type: str,
        detail: Mapping[str, Any] | None,
        object_id: str = "",
        actor_user_id: int | None = None,
    ) -> EntryView:
        label = self.actions.get(action)
        fields: list[DetailField] = []
        if isinstance(detail, Mapping):
            fields = [
                self.field(str(k), v, action, detail) for k, v in detail.items() if v is not None and v != ""
            ]
        raw = (
            json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
            if detail
            else ""
        )
        obj = self.objects.get(object_type, object_type) if object_type else ""
        lk = self.lookups
        object_text, href, actor_name = str(object_id or ""), "", ""
        if lk is not None:
            href = lk.object_href(object_type, object_text)
            key = _key(object_text)
            if object_type == "case" and key is not None and key in lk.case_number:
                object_text = lk.case_number[int(object_text)]
            elif object_type == "user" and key is not None and key in lk.users:
                object_text = lk.users[key][0]
            elif object_type == "organisation" and key is not None and key in lk.org_by_id:
                object_text = lk.org_by_id[key]
            if actor_user_id is not None and actor_user_id in lk.users:
                username, display = lk.users[actor_user_id]
                actor_name = display if display != username else ""
        return EntryView(
            label or action, label is not None, obj, tuple(fields), raw, object_text, href, actor_name
        )


Form = Annotated[AuditForm, Depends()]


# --- the lists of the search form (R28): the actions and object types present in the log ----------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class OptionGroup:
    label: str
    options: tuple[Option, ...]


# (database, scope) -> (last seq seen, its hash, actions, object types): the log only grows, so each
# request reads the entries after the last one seen; a log that was replaced (its last entry no longer
# there, as in tests) is read again in full.
_present: dict[tuple[str, int | None], tuple[int, str, set[str], set[str]]] = {}


def present(session: Session, scope: int | None) -> tuple[set[str], set[str]]:
    """The actions and object types of the entries within the auditor's scope."""
    from gongshu.kernel.audit.models import AuditEntry

    key = (str(session.get_bind().engine.url), scope)
    seen = _present.get(key)
    if seen is not None:
        still = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == seen[0]))
        if still != seen[1]:
            seen = None
    after, actions, types = (seen[0], set(seen[2]), set(seen[3])) if seen else (0, set(), set())
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    if head is None:
        return set(), set()
    if head[0] > after or seen is None:
        stmt = select(AuditEntry.action, AuditEntry.object_type).where(AuditEntry.seq > after)
        if scope is not None:
            stmt = stmt.where(AuditEntry.actor_org_id == scope)
        for action, object_type in session.execute(stmt.group_by(AuditEntry.action, AuditEntry.object_type)):
            actions.add(str(action))
            if object_type:
                types.add(str(object_type))
        _present[key] = (int(head[0]), str(head[1]), actions, types)
    return actions, types


def action_options(actions: set[str], chosen: str, lang: str) -> list[OptionGroup]:
    """The action list: per area, "every action of the area" (its prefix), then each action by its label.
    A prefix typed in the address that is not in the list is kept as an option of its own."""
    labels, domains = _action_labels(lang), _domain_labels(lang)
    groups: list[OptionGroup] = []
    values: set[str] = set()
    by_domain: dict[str, list[str]] = {}
    for action in actions:
        by_domain.setdefault(action.partition(".")[0], []).append(action)
    for domain in sorted(by_domain, key=lambda d: domains.get(d, d) if lang == "zh" else d):
        name = domains.get(domain, domain)
        every = Option(
            f"{domain}.", gettext(lang, "{area}: every action ({prefix}*)", area=name, prefix=f"{domain}.")
        )
        members = sorted(by_domain[domain])
        options = [every] + [Option(a, labels.get(a, a)) for a in members]
        values |= {o.value for o in options}
        groups.append(OptionGroup(name, tuple(options)))
    if chosen and chosen not in values:
        groups.insert(
            0,
            OptionGroup(
                gettext(lang, "Typed"),
                (Option(chosen, gettext(lang, "Actions beginning with {prefix}", prefix=chosen)),),
            ),
        )
    return groups


def type_options(types: set[str], chosen: str, lang: str) -> list[Option]:
    labels = _object_labels(lang)
    options = sorted(
        (Option(t, labels.get(t, t)) for t in types | ({chosen} if chosen else set())), key=lambda o: o.label
    )
    return options


def _has_data_page(request: Request) -> bool:
    """Whether the app serves a resource's data page (/data/CODE): entries about a resource link to it."""
    return any(getattr(r, "path", None) == "/data/{code}" for r in request.app.routes)


@router.get("", response_class=HTMLResponse)
def audit_search(request: Request, actor: Auditor, form: Form, page: int = 1) -> HTMLResponse:
    """R28: search the audit log (newest first), within the actor's scope, by what users know (`resolve`);
    each entry reads as labels and links to the page of its object."""
    from gongshu.kernel.audit import query
    from gongshu.kernel.db import read_scope

    lang = lang_of(request)
    page = max(page, 1)
    rows: list[Any] = []
    total, error = 0, None
    resolved: Resolved | None = None
    with read_scope() as s:
        scope = audit_scope(s, actor)
        try:
            resolved = resolve(s, form, scope, lang, _object_labels(lang))
            if not resolved.choices:
                rows, total = query.search(
                    s, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **form.filters(scope, resolved)
                )
        except GongshuError as exc:
            error = exc
        labels = EntryLabels(lang, Lookups(s, actor, rows, lang, data_page=_has_data_page(request)))
        entries = [
            (e, labels.entry(e.action, e.object_type, e.detail, e.object_id, e.actor_user_id)) for e in rows
        ]
        actions, types = present(s, scope)
        s.expunge_all()  # the entries are read by the template after the unit of work ends
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render(
        request,
        "audit/search.html",
        status_code=error.status_code if error else 200,
        entries=entries,
        china=CHINA,
        total=total,
        page=page,
        pages=pages,
        form=form,
        resolved=resolved,
        action_groups=action_options(actions, form.values["action"], lang),
        type_options=type_options(types, form.values["object_type"], lang),
        scoped=scope is not None,
        error_message=error.message(lang) if error else None,
        error_field=error.field if error else None,
    )


def _chunks(handle: IO[str]) -> Iterator[bytes]:
    try:
        handle.seek(0)
        while block := handle.read(64 * 1024):
            yield block.encode("utf-8")
    finally:
        handle.close()


def _spool() -> IO[str]:
    # Closed by _chunks once the download is sent (or by the export, on failure).
    return tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+", encoding="utf-8", newline="")


def _at_china(at: str) -> str:
    """An entry's `at` (UTC, as the chain hashes it; naive as SQLite gives it back) in China time."""
    return as_utc(dt.datetime.fromisoformat(at)).astimezone(CHINA).isoformat()


def with_china_time(source: IO[str], out: IO[str], format: str) -> None:
    """R28: each exported entry keeps `at` as recorded (UTC, machine-readable, what the hash covers) and
    gains `at_china` beside it: the same instant in China time (UTC+08:00), as the pages show it."""
    source.seek(0)
    if format == "csv":
        if source.read(1) != "\ufeff":
            source.seek(0)
        out.write("\ufeff")  # so that spreadsheet programs read the Chinese text as UTF-8
        reader, writer = csv.reader(source), csv.writer(out)
        header = next(reader, None)
        if header is None:
            return
        at = header.index("at")
        writer.writerow([*header[: at + 1], "at_china", *header[at + 1 :]])
        for row in reader:
            writer.writerow([*row[: at + 1], _at_china(row[at]), *row[at + 1 :]])
        return
    for line in source:
        if not line.strip():
            continue
        entry = json.loads(line)
        shown: dict[str, Any] = {}
        for k, v in entry.items():
            shown[k] = v
            if k == "at":
                shown["at_china"] = _at_china(v)
        out.write(json.dumps(shown, ensure_ascii=False) + "\n")


@router.get("/export")
def audit_export(request: Request, actor: Auditor, form: Form, format: str = "csv") -> StreamingResponse:
    """R28: download the matching entries (oldest first) as CSV or JSON Lines, within the actor's scope,
    found as the page finds them (`resolve`). Each entry has `at` in UTC as recorded and `at_china` in
    China time; the file is named by the China time of the export (gongshu-audit-YYYYMMDD-HHMMSS, UTC+8).
    The export itself is recorded in the audit log."""
    from gongshu.kernel.audit import query
    from gongshu.kernel.audit.service import record
    from gongshu.kernel.db import read_scope, session_scope

    if format not in ("csv", "jsonl"):
        raise ValidationFailed(
            "audit.export_format",
            "导出格式应为 csv 或 jsonl",
            "The export format is csv or jsonl",
            field="format",
        )
    lang = lang_of(request)
    recorded, spool = _spool(), _spool()
    try:
        with read_scope() as s:
            scope = audit_scope(s, actor)
            resolved = resolve(s, form, scope, lang, _object_labels(lang))
            if resolved.choices:
                raise ValidationFailed(
                    "audit.ambiguous",
                    "检索条件有多种理解，请先在页面上选择用户或对象类型再导出",
                    "The search can be read several ways: choose the user or object type on the page first",
                    field="object_id" if form.values["object_id"] else "actor",
                )
            filters = form.filters(scope, resolved)
            if format == "csv":
                count = query.export_csv(s, recorded, **filters)
            else:
                count = query.export_jsonl(s, recorded, **filters)
        with_china_time(recorded, spool, format)
        with session_scope() as s:
            record(
                s,
                actor,
                "audit.export",
                object_type="audit_log",
                detail={
                    "format": format,
                    "entries": count,
                    "filters": {k: v for k, v in filters.items() if v},
                },
            )
    except BaseException:
        spool.close()
        raise
    finally:
        recorded.close()
    stamp = now().astimezone(CHINA).strftime("%Y%m%d-%H%M%S")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson; charset=utf-8"
    return StreamingResponse(
        _chunks(spool),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="gongshu-audit-{stamp}.{format}"',
            "X-Entry-Count": str(count),
        },
    )


@router.get("/verify", response_class=HTMLResponse)
def audit_verify(request: Request, actor: Auditor, anchor: str = "") -> HTMLResponse:
    """R26–R28: walk the whole SM3 chain and show whether it is intact or the first bad entry. The check
    is recorded in the audit log."""
    from gongshu.kernel.audit import verify
    from gongshu.kernel.audit.service import record
    from gongshu.kernel.db import read_scope, session_scope

    try:
        parsed = verify.parse_anchor(anchor) if anchor.strip() else None
    except GongshuError as exc:
        return render(
            request,
            "audit/verify.html",
            status_code=exc.status_code,
            result=None,
            anchor=anchor,
            error_message=exc.message(lang_of(request)),
        )
    with read_scope() as s:
        result = verify.verify_chain(s, anchor=parsed)
    with session_scope() as s:
        record(
            s,
            actor,
            "audit.verify",
            object_type="audit_log",
            outcome="ok" if result.ok else "error",
            detail={
                "checked": result.checked,
                "problem": result.problem_code,
                "first_bad_seq": result.first_bad_seq,
                "anchor": anchor.strip() or None,
            },
        )
    message = result.message_zh if lang_of(request) == "zh" else result.message_en
    return render(
        request, "audit/verify.html", result=result, message=message, anchor=anchor, error_message=None
    )
