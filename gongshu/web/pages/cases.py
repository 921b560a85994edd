"""Pages of the workflow: the inbox (open steps by due day, R17/R14/R23 periods), the organisation's own
cases, a case with its steps, history, attachments and decision form, and the notifications.

Handlers are thin: they open a unit of work and call the workflow services, which hold every rule (R26: who
may add a file, and what file, is `attachments.attach`'s to decide). The case page reads the case for its
user (R28): what it is about (the subject named and linked, what was asked), the history and the dispute
stage named by the step reached (R15, R17), the reasons hint of the case's kind, wording for a person's own
account, a refused form shown again as it was filled in, and precise feedback after each action.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from gongshu.catalog import data_view
from gongshu.kernel.db import read_scope, session_scope
from gongshu.kernel.errors import GongshuError, NotFound, ValidationFailed
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.timeutil import CHINA, as_utc
from gongshu.kernel.workflow import attachments, engine, inbox, notify
from gongshu.kernel.workflow.attachments import CASE_ATTACHMENT_TYPES, MAX_ATTACHMENT_BYTES
from gongshu.kernel.workflow.models import Case, CaseEvent
from gongshu.kernel.workflow.steps import active_step, following_step, is_escalation_step, policy_of
from gongshu.kernel.workflow.visibility import can_view, is_read_only
from gongshu.web.deps import csrf_protect, require_actor
from gongshu.web.render import lang_of, render

router = APIRouter(include_in_schema=False)
LoggedIn = Annotated[Actor, Depends(require_actor)]
Protected = [Depends(csrf_protect)]


def _(msgid: str) -> str:
    """Marks a msgid for the catalogs; templates translate it when the page is rendered."""
    return msgid


# Labels of roles, case states, decisions and history events (msgids of the page catalogs).
ROLE_LABELS = {
    "reviewer": _("Reviewer"),
    "coordinator": _("Coordinator"),
    "decision_maker": _("Decision maker"),
    "pre_reviewer": _("Pre-reviewer"),
    "data_officer": _("Data officer"),
    "catalog_officer": _("Catalog officer"),
    "org_admin": _("Organisation administrator"),
    "auditor": _("Auditor"),
    "admin": _("Platform administrator"),
    "public": _("Public user"),
}
STATUS_LABELS = {
    "draft": _("Draft"),
    "in_review": _("In review"),
    "returned": _("Returned"),
    "approved": _("Approved"),
    "rejected": _("Rejected"),
    "withdrawn": _("Withdrawn"),
}
STEP_STATES = {
    "waiting": _("Not reached"),
    "active": _("In progress"),
    "done": _("Decided"),
    "cancelled": _("Not needed"),
}
SLA_LABELS = {"on_time": _("On time"), "due_soon": _("Due soon"), "overdue": _("Overdue")}
DECISION_LABELS = {
    "approve": _("Approve"),
    "return": _("Return for correction"),
    "reject": _("Reject"),
    "escalate": _("Escalate to the municipal government"),
}
EVENT_LABELS = {
    "submitted": _("Case submitted"),
    "step_started": _("Step started"),
    "approved": _("Approved"),
    "returned": _("Returned"),
    "rejected": _("Rejected"),
    "escalated": _("Disputed and escalated"),
    "resubmitted": _("Resubmitted"),
    "withdrawn": _("Withdrawn"),
    "attachment_added": _("Attachment added"),
    "due_soon": _("Due soon"),
    "overdue": _("Overdue"),
    "deadline_recomputed": _("Deadline recomputed"),
}
# R15, R17: history entries named by the step they lead to. A dispute by the applicant ("escalated" without a
# step) starts the coordination; an escalation decided on a coordination step goes to the next step of the
# chain (the municipal government's decision). Placeholder {step}: that step's name from the policy.
STEP_EVENT_LABELS = {
    "step_started": _("Step started: {step}"),
    "dispute": _("Disputed by the applicant: {step}"),
    "escalated": _("Escalated: {step}"),
}
# R14: an objection is filed, not applied for.
OBJECTION_EVENT_LABELS = {"submitted": _("Objection filed"), "withdrawn": _("Objection withdrawn")}

# Feedback after an action (the `done` of the redirect), per action.
DONE_LABELS = {
    "approved": _("Decision recorded: approved."),
    "returned": _("Returned for correction; the applicant has been notified."),
    "rejected": _("Decision recorded: not approved, with your written reasons."),
    "escalated": _("Escalated: {step}."),
    "dispute": _("Your dispute has been submitted: {step}."),
    "attachment": _("File uploaded."),
    "withdrawn": _("Withdrawn."),
    "resubmitted": _("Resubmitted; the review starts again."),
    "submitted": _("Submitted."),
}
DONE_FALLBACK = _("Saved.")

# R6 R9 R14 R15 R17 R21 R23 R8: what the written reasons of a decision answer to, per kind of case (the kinds
# and their articles are the policy's `workflow_kinds`); on the dispute chain, per step (R15, R17).
REASONS_HINTS = {
    "catalog_publication": _(
        "Required when returning or rejecting: say which part of the entry does not meet the catalog "
        "compilation specification (R6)."
    ),
    "catalog_change": _(
        "Required when returning or rejecting: say why the change cannot be published; data attributes may "
        "not be changed at will (R9)."
    ),
    "duty_transfer": _(
        "Required when returning or rejecting: say why the transfer of these entries cannot be agreed (R9)."
    ),
    "sharing_application": _(
        "Required when returning or rejecting (R17: a refusal to share gives written reasons)."
    ),
    "open_application": _(
        "Required when returning or rejecting (R23: the reasons of a refusal are published on the platform)."
    ),
    "objection": _("Required when refusing the objection (R14: the objection is answered with reasons)."),
    "emergency_collection": _(
        "Required when returning or rejecting: say what is missing from the data provided (R21)."
    ),
    "it_project_acceptance": _(
        "Required when returning or rejecting: say which catalog entries or aggregated data are missing (R8)."
    ),
}
CHAIN_HINTS = {
    "coordination": _(
        "Required when refusing or escalating (R15, R17: the authority coordinates; if that fails, the "
        "municipal government decides)."
    ),
    "final": _("Required when refusing (R15, R17: the municipal government's decision is final)."),
}
GENERIC_HINT = _("Required when returning or rejecting (written reasons, {article}).")
# R14 R28: on an objection's dispute chain the authority reviews the provider's reply to the objector.
OBJECTION_CHAIN_HINTS = {
    "coordination": _(
        "Required when refusing or escalating (R14, R28: the authority reviews the provider's reply; if "
        "that does not settle it, the municipal government decides)."
    ),
    "final": _("Required when refusing (R14, R28: the municipal government's decision is final)."),
}


@dataclass(frozen=True)
class DisputeOffer:
    """What the applicant is offered against a refusal, worded for the kind of case: its heading, what
    happens next, the articles it rests on, the button, and the feedback once submitted (msgids)."""

    heading: str
    explanation: str
    articles: str
    button: str
    done: str


# R15 R17: a refusal to share (or a catalog decision) is disputed: the authority coordinates, then the
# municipal government decides.
DISPUTE_OFFER = DisputeOffer(
    _("Dispute this decision"),
    _("The authority will coordinate; if that fails, the municipal government decides."),
    "R15, R17",
    _("Dispute"),
    _("Your dispute has been submitted: {step}."),
)
# R14 R28: a refused objection is the provider's reply, which the objector asks the authority to review
# (申请主管部门复核); the authority supervises the handling of objections.
DISPUTE_OFFERS = {
    "objection": DisputeOffer(
        _("Ask the authority to review the provider's reply"),
        _(
            "The big-data authority reviews the provider's reply to your objection; if that does not settle "
            "it, the municipal government decides. Say why the reply is wrong and add any further evidence."
        ),
        "R14, R28",
        _("Request a review"),
        _("Your request for a review has been submitted: {step}."),
    ),
}

# The applicant's side as the page names it (R28): organisations apply; a person applies or objects.
PARTY_LABELS = {
    "organisation": _("Applicant"),
    "person": _("Applying person"),
    "objector": _("Objector"),
}
PARTY_ACTIONS = {
    "organisation": _("Applicant actions"),
    "person": _("Applicant's actions"),
    "objector": _("Objector's actions"),
}
PERSON_KINDS = ("person",)
OBJECTION_KINDS = ("objection",)

# Fields of a catalog entry's snapshot (R6 R9), as a catalog change lists them (msgids of the catalog pages).
ENTRY_FIELD_LABELS = {
    "catalog_kind": _("Catalog kind"),
    "category_code": _("Category code"),
    "name": _("Resource name"),
    "name_en": _("English name"),
    "summary": _("Summary"),
    "format": _("Format"),
    "topic": _("Topic"),
    "keywords": _("Keywords"),
    "sharing_attribute": _("Sharing attribute"),
    "sharing_conditions": _("Sharing conditions"),
    "legal_basis": _("Legal basis"),
    "sharing_methods": _("Sharing methods"),
    "open_attribute": _("Open attribute"),
    "open_conditions": _("Open conditions"),
    "not_open_reason": _("Reason for not opening"),
    "update_cycle": _("Update cycle"),
    "grade": _("Grade"),
    "contains_personal_info": _("Contains personal information"),
    "deidentified": _("De-identified"),
    "subject_kind": _("Subject of the records"),
    "related_codes": _("Related resources"),
    "items": _("Information items"),
}
# Snapshot fields whose values are keys of a policy group (R30: labelled by the case's policy).
ENTRY_POLICY_GROUPS = {
    "catalog_kind": "catalog_kinds",
    "sharing_attribute": "sharing_attributes",
    "open_attribute": "open_attributes",
    "update_cycle": "update_cycles",
    "grade": "grades",
    "sharing_methods": "sharing_methods",
    "sharing_conditions": "sharing_condition_kinds",
    "open_conditions": "open_condition_kinds",
}
ITEM_CHANGE_LABELS = {
    "added": _("Information item added"),
    "removed": _("Information item removed"),
    "changed": _("Information item changed"),
}


def china_time(value: dt.datetime | None) -> str:
    """An instant as shown on pages: China time, to the minute (a naive instant, as SQLite gives it back,
    is UTC)."""
    return as_utc(value).astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def viewable_case_ids(session: Any, actor: Actor, case_ids: Iterable[int | None]) -> set[int]:
    """R5, R28: of these cases, the ones this actor may open; other pages link only to those, since
    /cases/{id} answers 404 for a case the actor may not see."""
    wanted = {i for i in case_ids if i}
    if not wanted:
        return set()
    cases = session.scalars(select(Case).where(Case.id.in_(wanted)))
    return {c.id for c in cases if can_view(actor, c)}


_DECIMAL_TEXT = re.compile(r"-?\d+\.\d+")


def plain_value(value: Any) -> str:
    """R28: a value as pages show it — a decimal without the zeros of its stored scale (1197.0000000000 is
    shown 1197, 0.50 is 0.5), nothing as "—", a list joined."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, Decimal | float) or (
        isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip())
    ):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return str(value)
        if not number.is_finite():
            return str(value)
        text = format(number.normalize(), "f")
        return "0" if text in ("-0", "") else text
    if isinstance(value, list | tuple):
        return "；".join(plain_value(v) for v in value) or "—"
    return str(value)


LABELS: dict[str, Any] = {
    "china_time": china_time,
    "plain_value": plain_value,
    "roles": ROLE_LABELS,
    "statuses": STATUS_LABELS,
    "step_states": STEP_STATES,
    "sla_labels": SLA_LABELS,
    "decision_labels": DECISION_LABELS,
    "event_labels": EVENT_LABELS,
    "max_attachment_mb": MAX_ATTACHMENT_BYTES // (1024 * 1024),
    "attachment_accept": ",".join(f".{ext}" for ext in CASE_ATTACHMENT_TYPES),
}


# Kinds whose case page shows a panel of their own (what was asked, R14: the record and the value
# claimed) from `template`, with what `fn(session, actor, case)` gives. A panel with "decided_elsewhere"
# replaces the generic decision form: such a case is decided on its own page ("handling_url").
CasePanel = Callable[[Any, Actor, Case], dict[str, Any]]
_panels: dict[str, tuple[str, CasePanel]] = {}


def case_panel(kind: str, template: str) -> Callable[[CasePanel], CasePanel]:
    def decorator(fn: CasePanel) -> CasePanel:
        _panels[kind] = (template, fn)
        return fn

    return decorator


# ---- what the case is about (kinds without a panel of their own) ---------------------------------------

Pair = tuple[str, str]  # a shown value in Chinese and in English


def _pair(value: Any) -> Pair:
    text = plain_value(value)
    return text, text


@dataclass(frozen=True)
class Named:
    """A subject of the case with its name and its page (a catalog entry, an IT project)."""

    code: str
    name_zh: str
    name_en: str
    href: str

    def name(self, lang: str) -> str:
        return self.name_zh if lang.startswith("zh") or not self.name_en else self.name_en


@dataclass(frozen=True)
class Fact:
    """One line of what was asked: a label (msgid) and its value in each language."""

    key: str
    label: str
    value_zh: str
    value_en: str

    def value(self, lang: str) -> str:
        return self.value_zh if lang.startswith("zh") else self.value_en


@dataclass(frozen=True)
class Change:
    """R9, R15: a field of a catalog entry as it is and as proposed."""

    key: str
    label: str
    before: Pair
    after: Pair

    def shown(self, lang: str) -> tuple[str, str]:
        i = 0 if lang.startswith("zh") else 1
        return self.before[i], self.after[i]


@dataclass(frozen=True)
class SubjectView:
    """R28: what a case is about, as its page shows it when the kind has no panel of its own: the subject
    named and linked, what was asked, and (a catalog change, an attribute dispute) the fields changed."""

    heading: str
    article: str
    entries: tuple[Named, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (msgid, address)
    facts: tuple[Fact, ...] = ()
    changes: tuple[Change, ...] = ()
    raw: str = ""  # "<type> <id>" when nothing better is known


def _entry(session: Any, code: str, name: str = "") -> Named:
    """A catalog entry named as the catalog names it (R6), linked to its page."""
    label = data_view.entry_label(session, code) if code else None
    zh = label.name if label is not None else (name or code)
    en = (label.name_en or label.name) if label is not None else (name or code)
    return Named(code, zh, en, f"/catalog/{quote(code, safe='')}")


def _labelled(pol: Any, group: str | None, value: Any) -> Pair:
    """A snapshot value in both languages: policy keys by the policy's labels (R30), conditions as
    "kind：value", lists joined, decimals plain."""
    if isinstance(value, list | tuple):
        parts = [_labelled(pol, group, v) for v in value]
        if not parts:
            return "—", "—"
        return "；".join(p[0] for p in parts), "; ".join(p[1] for p in parts)
    if isinstance(value, dict):
        kind = str(value.get("kind", ""))
        zh, en = (pol.label(group, kind, "zh"), pol.label(group, kind, "en")) if group else (kind, kind)
        shown = plain_value(value.get("value", ""))
        return f"{zh}：{shown}", f"{en}: {shown}"
    if group and isinstance(value, str) and value:
        return pol.label(group, value, "zh"), pol.label(group, value, "en")
    return _pair(value)


def _item_changes(before: list[Any], after: list[Any]) -> list[Change]:
    """R9: the information items added, removed or changed, by item name."""
    old = {str(i.get("name")): i for i in before if isinstance(i, dict)}
    new = {str(i.get("name")): i for i in after if isinstance(i, dict)}
    out: list[Change] = []

    def names(item: dict[str, Any]) -> Pair:
        zh = str(item.get("label_zh") or item.get("name"))
        return f"{zh}（{item.get('name')}）", f"{item.get('label_en') or zh} ({item.get('name')})"

    for name, item in new.items():
        if name not in old:
            out.append(Change(f"item-{name}", ITEM_CHANGE_LABELS["added"], ("—", "—"), names(item)))
        elif old[name] != item:
            out.append(Change(f"item-{name}", ITEM_CHANGE_LABELS["changed"], names(old[name]), names(item)))
    for name, item in old.items():
        if name not in new:
            out.append(Change(f"item-{name}", ITEM_CHANGE_LABELS["removed"], names(item), ("—", "—")))
    return out


def _entry_changes(pol: Any, rows: list[tuple[str, Any, Any]]) -> tuple[Change, ...]:
    out: list[Change] = []
    for field_name, before, after in rows:
        if field_name == "items":
            out += _item_changes(list(before or []), list(after or []))
            continue
        group = ENTRY_POLICY_GROUPS.get(field_name)
        label = ENTRY_FIELD_LABELS.get(field_name, field_name)
        out.append(Change(field_name, label, _labelled(pol, group, before), _labelled(pol, group, after)))
    return tuple(out)


def _sharing_subject(session: Any, case: Case, pol: Any, article: str) -> SubjectView:
    """R17: a sharing application — the entry asked for, the scenario, the items, the method, the period."""
    p = case.payload
    code = str(p.get("resource_code") or case.subject_id)
    entry = _entry(session, code, str(p.get("resource_name") or ""))
    view = data_view.find_entry(session, code)
    items = {i.name: (i.label_zh, i.label_en or i.label_zh) for i in (view.items if view else ())}
    wanted = [items.get(str(n), (str(n), str(n))) for n in p.get("items") or []]
    method = str(p.get("delivery_method") or "")
    facts = [
        Fact("scenario", _("Application scenario"), *_pair(p.get("scenario"))),
        Fact("purpose", _("Purpose"), *_pair(p.get("purpose"))),
        Fact("basis", _("Basis (law, duty or document)"), *_pair(p.get("basis"))),
        Fact(
            "items", _("Information items"), "、".join(w[0] for w in wanted), ", ".join(w[1] for w in wanted)
        ),
        Fact(
            "delivery-method",
            _("Delivery method"),
            pol.label("sharing_methods", method, "zh") if method else "—",
            pol.label("sharing_methods", method, "en") if method else "—",
        ),
        Fact("period", _("Period of use"), *_pair(f"{p.get('valid_from', '')} – {p.get('valid_to', '')}")),
    ]
    if p.get("key_municipal_work"):
        facts.append(
            Fact("key-work", _("For key work of the municipal Party committee and government"), "是", "Yes")
        )
    if p.get("cross_department_system"):
        facts.append(
            Fact(
                "system",
                _("Cross-department system or platform using the data"),
                *_pair(p.get("cross_department_system")),
            )
        )
    return SubjectView(_("The application"), article, entries=(entry,), facts=tuple(facts))


def _reasons_fact(p: dict[str, Any]) -> Fact:
    return Fact("reasons", _("Reasons stated"), *_pair(p.get("reasons")))


def _change_subject(session: Any, case: Case, pol: Any, article: str) -> SubjectView:
    """R9: a catalog change — the entry, the fields as they are and as proposed, the reasons; the published
    versions and their differences on the catalog's own page."""
    p = case.payload
    code = str(p["resource_code"])
    rows = [(str(c.get("field")), c.get("before"), c.get("after")) for c in p.get("changes") or []]
    facts = [_reasons_fact(p)]
    if p.get("narrowed"):
        narrowed = [ENTRY_FIELD_LABELS.get(str(f), str(f)) for f in p["narrowed"]]
        facts.append(Fact("narrowed", _("Attributes narrowed"), *_pair(", ".join(narrowed))))
    versions = (_("Published versions and their differences"), f"/catalog/{quote(code, safe='')}/versions")
    return SubjectView(
        _("The proposed change"),
        article,
        (_entry(session, code),),
        (versions,),
        tuple(facts),
        _entry_changes(pol, rows),
    )


def _attribute_dispute_subject(session: Any, case: Case, pol: Any, article: str) -> SubjectView:
    """R15: the sharing attributes as they are and as the authority proposes them, with its reasons."""
    p = case.payload
    current, proposed = p.get("current") or {}, p.get("proposed") or {}
    rows = [(k, current.get(k), proposed.get(k)) for k in proposed if current.get(k) != proposed.get(k)]
    return SubjectView(
        _("The disputed attributes"),
        article,
        (_entry(session, str(p["resource_code"])),),
        (),
        (_reasons_fact(p),),
        _entry_changes(pol, rows),
    )


def _transfer_subject(session: Any, case: Case, pol: Any, article: str) -> SubjectView:
    """R9: the entries a change of duties moves, with its grounds."""
    p = case.payload
    entries = tuple(
        _entry(session, str(e.get("resource_code", "")), str(e.get("name", "")))
        for e in p.get("entries") or []
    )
    return SubjectView(_("The entries transferred"), article, entries, (), (_reasons_fact(p),))


def _project_subject(session: Any, case: Case, pol: Any, article: str) -> SubjectView:
    """R8: the IT project whose acceptance is checked."""
    link = (_("Open the IT project"), f"/catalog/projects/{case.subject_id}")
    return SubjectView(_("The IT project"), article, (), (link,))


def _publication_subject(session: Any, case: Case, pol: Any, article: str) -> SubjectView:
    """R6: the entry submitted for publication."""
    return SubjectView(
        _("The entry to publish"), article, (_entry(session, str(case.payload["resource_code"])),)
    )


Describer = Callable[[Any, Case, Any, str], SubjectView]
# What each kind's case is about, when the payload holds what the describer reads. The catalog and sharing
# modules may replace these with panels of their own (`case_panel`).
_SUBJECTS: dict[str, tuple[Callable[[Case], bool], Describer]] = {
    "sharing_application": (lambda c: c.subject_type == "catalog_entry", _sharing_subject),
    "catalog_change": (lambda c: bool(c.payload.get("resource_code")), _change_subject),
    "attribute_dispute": (lambda c: bool(c.payload.get("resource_code")), _attribute_dispute_subject),
    "duty_transfer": (lambda c: bool(c.payload.get("entries")), _transfer_subject),
    "it_project_acceptance": (lambda c: c.subject_id.isdigit(), _project_subject),
    "catalog_publication": (lambda c: bool(c.payload.get("resource_code")), _publication_subject),
}


def describe_subject(session: Any, case: Case, pol: Any) -> SubjectView | None:
    """R28: what the case is about, from its subject and payload (kinds without a panel of their own): the
    kind's own description, else the catalog entry it names, else its subject's type and id."""
    declared = pol.doc.workflow_kinds.get(case.kind)
    article = declared.article if declared is not None else ""
    known = _SUBJECTS.get(case.kind)
    if known is not None and known[0](case):
        return known[1](session, case, pol, article)
    code = str(case.payload.get("resource_code") or "")
    if code:
        upload = str(case.payload.get("upload") or "")  # R21: where the data is provided, while it is due
        due = upload.startswith("/") and case.status == "in_review"
        links: tuple[tuple[str, str], ...] = ((_("Provide the data"), upload),) if due else ()
        return SubjectView(_("The catalog entry concerned"), article, (_entry(session, code),), links)
    if case.subject_type:
        return SubjectView(_("Subject"), article, raw=f"{case.subject_type} {case.subject_id}")
    return None


# ---- the page's reading of the case: history, the dispute stage, hints, wording --------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One entry of the history, with its label (msgid, placeholder {step}) and the step it names."""

    event: CaseEvent
    label: str
    step: inbox.StepView | None


def history_rows(
    events: list[CaseEvent], steps: list[inbox.StepView], objection: bool = False
) -> list[HistoryRow]:
    """R15, R17: each history entry named by the step it concerns; a dispute and an escalation by the step
    they led to (the authority's coordination, the municipal government's decision). R14: an objection's
    own entries read as an objection's."""
    by_seq = {sv.step.seq: sv for sv in steps}
    labels = {**EVENT_LABELS, **(OBJECTION_EVENT_LABELS if objection else {})}
    rows: list[HistoryRow] = []
    for i, e in enumerate(events):
        if e.event == "escalated":
            started = next((x for x in events[i + 1 :] if x.event == "step_started"), None)
            target = by_seq.get(started.step_seq) if started is not None and started.step_seq else None
            key = "escalated" if e.step_seq is not None else "dispute"
            label = STEP_EVENT_LABELS[key] if target is not None else EVENT_LABELS["escalated"]
            rows.append(HistoryRow(e, label, target))
        elif e.event == "step_started" and e.step_seq in by_seq:
            rows.append(HistoryRow(e, STEP_EVENT_LABELS["step_started"], by_seq[e.step_seq]))
        else:
            step = by_seq.get(e.step_seq) if e.step_seq is not None else None
            rows.append(HistoryRow(e, labels.get(e.event, e.event), step))
    return rows


def dispute_stage(pol: Any, steps: list[inbox.StepView]) -> inbox.StepView | None:
    """R15, R17: the step of the dispute chain the case has reached (open or decided) — the authority's
    coordination or the municipal government's decision — or None when it never went there."""
    reached = [sv for sv in steps if sv.step.state in ("active", "done") and is_escalation_step(pol, sv.step)]
    return reached[-1] if reached else None


def reasons_hint(pol: Any, case: Case) -> tuple[str, str]:
    """The hint under the written reasons of a decision (msgid, article): by the step on the dispute chain
    (R15, R17), else by the kind (its article from the policy)."""
    step = active_step(case)
    if step is not None and is_escalation_step(pol, step):
        following = following_step(case, step)
        final = following is None or not is_escalation_step(pol, following)
        if case.kind in OBJECTION_KINDS:  # R14 R28: the authority reviews the provider's reply
            return OBJECTION_CHAIN_HINTS["final" if final else "coordination"], "R14 R28"
        return CHAIN_HINTS["final" if final else "coordination"], "R15 R17"
    declared = pol.doc.workflow_kinds.get(case.kind)
    article = declared.article if declared is not None else ""
    return REASONS_HINTS.get(case.kind, GENERIC_HINT), article


def party_of(view: inbox.CaseView) -> str:
    """R28: how the page names the applicant's side: an organisation, a person applying, a person
    objecting (R14)."""
    org = view.orgs.get(view.case.applicant_org_id)
    if org is None or org.kind not in PERSON_KINDS:
        return "organisation"
    return "objector" if view.case.kind in OBJECTION_KINDS else "person"


def dispute_offer(case: Case) -> DisputeOffer:
    """R15 R17, R14 R28: the offer against a refusal as the kind of case words it."""
    return DISPUTE_OFFERS.get(case.kind, DISPUTE_OFFER)


def done_label(
    done: str | None, active: inbox.StepView | None, offer: DisputeOffer = DISPUTE_OFFER
) -> str | None:
    """The feedback after an action, precise per action ("Withdrawn.", "File uploaded."…); a dispute's in
    the words of the kind's offer."""
    if not done:
        return None
    label = offer.done if done == "dispute" else DONE_LABELS.get(done, DONE_FALLBACK)
    return DONE_FALLBACK if "{step}" in label and active is None else label


def _page_context(session: Any, actor: Actor, view: inbox.CaseView, done: str | None) -> dict[str, Any]:
    case = view.case
    pol = policy_of(session, case)
    hint, article = reasons_hint(pol, case)
    active = next((sv for sv in view.steps if sv.step.state == "active"), None)
    roles = actor.role_names()
    offer = dispute_offer(case)
    return {
        "subject": describe_subject(session, case, pol),
        "history_rows": history_rows(view.events, view.steps, case.kind in OBJECTION_KINDS),
        "stage": dispute_stage(pol, view.steps),
        "reasons_hint": hint,
        "reasons_article": article,
        "party": party_of(view),
        "party_labels": PARTY_LABELS,
        "party_actions": PARTY_ACTIONS,
        "is_objection": case.kind in OBJECTION_KINDS,
        # R28: the way back — the inbox for those who handle steps, the applicant's own list for its side.
        "show_inbox": bool(roles - {"public", "auditor"}),
        "show_my_cases": actor.acts_for(case.applicant_org_id) and not is_read_only(actor),
        "dispute_offer": offer,
        "done_label": done_label(done, active, offer),
        "done_step": active,
    }


async def _upload(file: UploadFile | None) -> tuple[str, bytes, str] | None:
    """The chosen file (name, bytes, type), or None when the form's file field was left empty. Reads one
    byte past the limit so that the service can refuse an oversized file precisely."""
    if file is None or not file.filename:
        return None
    content = await file.read(MAX_ATTACHMENT_BYTES + 1)
    return file.filename, content, file.content_type or "application/octet-stream"


def _case_page(
    request: Request, actor: Actor, case_id: int, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    with read_scope() as s:
        view = inbox.case_view(s, actor, case_id)
        template, panel_of = _panels.get(view.case.kind, ("", None))
        done = request.query_params.get("done")
        return render(
            request,
            "workflow/case.html",
            status_code=status_code,
            view=view,
            c=view.case,
            done=done,
            panel=panel_of(s, actor, view.case) if panel_of is not None else None,
            panel_template=template,
            **LABELS,
            **_page_context(s, actor, view, done),
            **{"form": {}, **extra},
        )


def _refused(
    request: Request,
    actor: Actor,
    case_id: int,
    exc: GongshuError,
    form: dict[str, str] | None = None,
    file_dropped: bool = False,
) -> HTMLResponse:
    """The case page again with the refusal's precise message, and the refused form as it was filled in
    (the decision chosen, the reasons typed), so that nothing is lost and nothing else gets submitted."""
    if isinstance(exc, NotFound):
        raise exc
    return _case_page(
        request,
        actor,
        case_id,
        status_code=exc.status_code,
        error=exc,
        error_message=exc.message(lang_of(request)),
        form=form or {},
        file_dropped=file_dropped,
    )


def _done(case_id: int, what: str) -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_id}?done={what}", status_code=303)


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, actor: LoggedIn) -> HTMLResponse:
    """R17, R14, R23: the steps waiting for the user, the earliest due first; late ones in red."""
    with read_scope() as s:
        items = inbox.inbox(s, actor)
        return render(request, "workflow/inbox.html", items=items, **LABELS)


@router.get("/cases", response_class=HTMLResponse)
def my_cases_page(request: Request, actor: LoggedIn, status: str | None = None) -> HTMLResponse:
    """The applications (and, for a person, the objections, R14) of the user's side, newest first; R28: a
    person's own account reads "submitted by you", an organisation's "by your organisation"."""
    with read_scope() as s:
        rows = inbox.summaries(s, inbox.my_cases(s, actor, status or None))
        return render(
            request,
            "workflow/cases.html",
            cases=rows,
            status=status or "",
            person=actor.org_kind in PERSON_KINDS,
            **LABELS,
        )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, actor: LoggedIn, case_id: int) -> HTMLResponse:
    return _case_page(request, actor, case_id)


# The case's forms post to these; opened by GET (a reload after a refusal, a bookmark) they lead back to the
# case page instead of answering "Method Not Allowed".
POST_ONLY_ACTIONS = ("decision", "dispute", "attachments", "withdraw", "resubmit")


def _back_to_case(case_id: int) -> RedirectResponse:
    """R28: a form's address opened by GET leads back to the case page."""
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


for _action in POST_ONLY_ACTIONS:
    router.add_api_route(
        f"/cases/{{case_id}}/{_action}",
        _back_to_case,
        methods=["GET"],
        response_class=RedirectResponse,
        name=f"case_{_action}_get",
    )


DECISION_DONE = {"approve": "approved", "return": "returned", "reject": "rejected", "escalate": "escalated"}


@router.post("/cases/{case_id}/decision", response_class=HTMLResponse, dependencies=Protected)
async def decide_form(
    request: Request,
    actor: LoggedIn,
    case_id: int,
    decision: Annotated[str, Form()] = "",
    reasons: Annotated[str, Form(max_length=20000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """R17: the assignee's decision with written reasons (and an optional review document). No decision is
    chosen in advance: one left unchosen is refused, and a refused form comes back as it was filled in."""
    upload = await _upload(file)
    form = {"action": "decision", "decision": decision, "reasons": reasons}
    try:
        if not decision:
            raise ValidationFailed(
                "workflow.decision_required",
                "请选择办理决定（如通过、退回补正或不予通过）后再提交",
                "Choose a decision (approve, return for correction, reject…) before submitting",
                field="decision",
            )
        with session_scope() as s:
            if upload is not None:
                attachments.attach(s, actor, case_id, *upload)
            engine.decide(s, actor, case_id, decision, reasons)
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc, form, file_dropped=upload is not None)
    return _done(case_id, DECISION_DONE.get(decision, "decision"))


@router.post("/cases/{case_id}/dispute", response_class=HTMLResponse, dependencies=Protected)
async def dispute_form(
    request: Request,
    actor: LoggedIn,
    case_id: int,
    reasons: Annotated[str, Form(max_length=20000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """R15, R17: the applicant disputes a refusal; the authority coordinates, then the government decides."""
    upload = await _upload(file)
    try:
        with session_scope() as s:
            engine.escalate(s, actor, case_id, reasons)
            if upload is not None:
                attachments.attach(s, actor, case_id, *upload)
    except GongshuError as exc:
        form = {"action": "dispute", "reasons": reasons}
        return _refused(request, actor, case_id, exc, form, file_dropped=upload is not None)
    return _done(case_id, "dispute")


@router.post("/cases/{case_id}/attachments", response_class=HTMLResponse, dependencies=Protected)
async def attach_form(
    request: Request, actor: LoggedIn, case_id: int, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    """R26: a party of the open case adds a file (the service decides who may, and what file)."""
    upload = await _upload(file)
    try:
        with session_scope() as s:
            attachments.attach(s, actor, case_id, *(upload or ("", b"", "")))
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc, {"action": "attachment"})
    return _done(case_id, "attachment")


@router.post("/cases/{case_id}/withdraw", response_class=HTMLResponse, dependencies=Protected)
def withdraw_form(
    request: Request, actor: LoggedIn, case_id: int, reasons: Annotated[str, Form(max_length=20000)] = ""
) -> Response:
    try:
        with session_scope() as s:
            engine.withdraw(s, actor, case_id, reasons)
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc, {"action": "withdraw", "reasons": reasons})
    return _done(case_id, "withdrawn")


@router.post("/cases/{case_id}/resubmit", response_class=HTMLResponse, dependencies=Protected)
def resubmit_form(request: Request, actor: LoggedIn, case_id: int) -> Response:
    try:
        with session_scope() as s:
            engine.resubmit(s, actor, case_id, None)
    except GongshuError as exc:
        return _refused(request, actor, case_id, exc, {"action": "resubmit"})
    return _done(case_id, "resubmitted")


@router.get("/cases/{case_id}/attachments/{attachment_id}")
def download(actor: LoggedIn, case_id: int, attachment_id: int) -> Response:
    with session_scope() as s:  # the read is audited
        row, content = attachments.read_attachment(s, actor, attachment_id)
    if row.case_id != case_id:
        raise NotFound(
            "workflow.attachment_not_found",
            f"附件 {attachment_id} 不存在",
            f"Attachment {attachment_id} does not exist",
        )
    return Response(content, media_type=row.content_type, headers=download_headers(row.filename))


def download_headers(filename: str) -> dict[str, str]:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
    }


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, actor: LoggedIn, unread: bool = False) -> HTMLResponse:
    with read_scope() as s:
        rows = notify.list_notifications(s, actor, unread_only=unread)
        return render(request, "workflow/notifications.html", notifications=rows, unread=unread, **LABELS)


@router.post("/notifications/read", dependencies=Protected)
async def notifications_read(request: Request, actor: LoggedIn) -> Response:
    form = await request.form()
    ids = [int(v) for v in form.getlist("ids") if isinstance(v, str) and v.isdigit()]
    with session_scope() as s:
        notify.mark_read(s, actor, "all" if form.get("all") else ids)
    target = form.get("next")
    safe = (
        target if isinstance(target, str) and target.startswith("/") and not target.startswith("//") else None
    )
    return RedirectResponse(safe or "/notifications", status_code=303)
