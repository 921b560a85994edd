"""Auditor pages (R26–R28): search the audit log, export it, verify its SM3 hash chain.

An auditor of a department sees the entries of their own organisation only; an auditor or administrator
of the authority or the operator sees every entry (R27: the operator monitors; R28: the authority
supervises). The scope is passed to the query service as `org_id`, so it holds for every path.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session

from gongshu.kernel.errors import GongshuError, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import CHINA
from gongshu.web.deps import require_role
from gongshu.web.i18n import gettext
from gongshu.web.render import lang_of, render

router = APIRouter(prefix="/audit", include_in_schema=False)

Auditor = Annotated[Actor, Depends(require_role("auditor", "admin"))]
PAGE_SIZE = 50
SUPERVISING_KINDS = frozenset({"authority", "operator"})
FILTER_FIELDS = ("actor", "action", "object_type", "object_id", "outcome", "since", "until")


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

    def filters(self, org_id: int | None) -> dict[str, Any]:
        """The query service's filters (validated there), with the actor's scope."""
        v = self.values
        return {
            "actor": v["actor"] or None,
            "action_prefix": v["action"] or None,
            "object_type": v["object_type"] or None,
            "object_id": v["object_id"] or None,
            "outcome": v["outcome"] or None,
            "since": _day(v["since"], "since"),
            "until": _day(v["until"], "until"),
            "org_id": org_id,
        }

    def query(self, **extra: object) -> str:
        return urlencode({k: v for k, v in {**self.values, **extra}.items() if v not in ("", None)})


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
        "store.migrate": gettext(lang, "Data table migrated"),
        "store.provision": gettext(lang, "Data table provisioned"),
        "store.purge": gettext(lang, "Data purged"),
        "store.quarantine_read": gettext(lang, "Quarantined records read"),
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
        "organisation": gettext(lang, "Organisation"),
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


CODE_KEYS = frozenset({"reason", "problem"})
_CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
NESTED_MAX = 240  # characters of a nested value shown in the list (the whole record is in the JSON)


@dataclass(frozen=True)
class DetailField:
    key: str
    label: str  # in the page language; the key itself when unknown
    text: str  # the value as read
    code: str = ""  # a reason or problem code, shown in monospace beside its phrase (`text`)


@dataclass(frozen=True)
class EntryView:
    action: str  # the action's label; its code when unknown
    known_action: bool
    object_type: str  # the object type's label; its code when unknown
    fields: tuple[DetailField, ...]
    raw: str  # the recorded detail, as the chain hashes it


def _clip(text: str) -> str:
    return text if len(text) <= NESTED_MAX else text[: NESTED_MAX - 1] + "…"


def _compact(value: object) -> str:
    return _clip(json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str))


class EntryLabels:
    """The labels of one page language, built once per request and applied to every entry shown."""

    def __init__(self, lang: str) -> None:
        self.actions = _action_labels(lang)
        self.keys = _detail_labels(lang)
        self.objects = _object_labels(lang)
        self.phrases = _reason_phrases(lang)
        self.yes, self.no = gettext(lang, "Yes"), gettext(lang, "No")
        self.joiner = "、" if lang == "zh" else ", "

    def value(self, value: object) -> str:
        if isinstance(value, bool):
            return self.yes if value else self.no
        if isinstance(value, str):
            return _clip(value)
        if isinstance(value, list | tuple):
            if not value:
                return "—"
            parts = (_compact(v) if isinstance(v, list | tuple | Mapping) else self.value(v) for v in value)
            return _clip(self.joiner.join(parts))
        if isinstance(value, int | float):
            return str(value)
        return _compact(value)  # a nested object, compact

    def field(self, key: str, value: object) -> DetailField:
        label = self.keys.get(key, key)
        if key in CODE_KEYS and isinstance(value, str):
            code = value.strip()
            if code in self.phrases:
                return DetailField(key, label, self.phrases[code], code)
            if _CODE.fullmatch(code):
                return DetailField(key, label, "", code)
        return DetailField(key, label, self.value(value))

    def entry(self, action: str, object_type: str, detail: Mapping[str, Any] | None) -> EntryView:
        label = self.actions.get(action)
        fields: list[DetailField] = []
        if isinstance(detail, Mapping):
            fields = [self.field(str(k), v) for k, v in detail.items() if v is not None and v != ""]
        raw = (
            json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
            if detail
            else ""
        )
        obj = self.objects.get(object_type, object_type) if object_type else ""
        return EntryView(label or action, label is not None, obj, tuple(fields), raw)


Form = Annotated[AuditForm, Depends()]


@router.get("", response_class=HTMLResponse)
def audit_search(request: Request, actor: Auditor, form: Form, page: int = 1) -> HTMLResponse:
    """R28: search the audit log (newest first), within the actor's scope."""
    from gongshu.kernel.audit import query
    from gongshu.kernel.db import read_scope

    page = max(page, 1)
    rows: list[Any] = []
    total, error = 0, None
    with read_scope() as s:
        scope = audit_scope(s, actor)
        try:
            rows, total = query.search(
                s, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **form.filters(scope)
            )
        except GongshuError as exc:
            error = exc
        s.expunge_all()  # the entries are read by the template after the unit of work ends
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    labels = EntryLabels(lang_of(request))  # once per request, for every entry of the page
    return render(
        request,
        "audit/search.html",
        status_code=error.status_code if error else 200,
        entries=[(e, labels.entry(e.action, e.object_type, e.detail)) for e in rows],
        china=CHINA,
        total=total,
        page=page,
        pages=pages,
        form=form,
        scoped=scope is not None,
        error_message=error.message(lang_of(request)) if error else None,
        error_field=error.field if error else None,
    )


def _chunks(handle: IO[str]) -> Iterator[bytes]:
    try:
        handle.seek(0)
        while block := handle.read(64 * 1024):
            yield block.encode("utf-8")
    finally:
        handle.close()


@router.get("/export")
def audit_export(request: Request, actor: Auditor, form: Form, format: str = "csv") -> StreamingResponse:
    """R28: download the matching entries (oldest first) as CSV or JSON Lines, within the actor's scope.
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
    # Closed by _chunks once the download is sent (or below, on failure): not a `with` block.
    spool: IO[str] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=8 * 1024 * 1024, mode="w+", encoding="utf-8", newline=""
    )
    try:
        with read_scope() as s:
            scope = audit_scope(s, actor)
            filters = form.filters(scope)
            if format == "csv":
                spool.write("\ufeff")  # so that spreadsheet programs read the Chinese text as UTF-8
                count = query.export_csv(s, spool, **filters)
            else:
                count = query.export_jsonl(s, spool, **filters)
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
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
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
