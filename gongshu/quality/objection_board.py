"""R14 R28: the authority's supervision of objections. R14 gives the provider a reply period (the policy's
`objection_reply`, R30) and R28 makes the authority supervise: it lists every open objection across the
providers — case, resource, provider, item objected to, day filed, the open step's due day on the
working-day clock and where it stands (on time, due soon, overdue, `workflow.sla`) — overdue first, with
the counts at the top (open, due soon, overdue, rulings awaiting execution, `quality.rulings`). A
provider's data officers see their own organisation's only: the same access decision as the list of
rulings (DATA_REPORTS_READ, `rulings.board_scope`). The list reads cases, never a record: no personal
data (the record's key is an ID number) is shown on it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.catalog.data_view import EntryLabel, entry_label
from gongshu.kernel.identity.actor import Actor
from gongshu.kernel.identity.models import Organisation
from gongshu.kernel.timeutil import as_utc, now, today_china
from gongshu.kernel.workflow.inbox import StepView, open_step_view
from gongshu.kernel.workflow.models import Case
from gongshu.kernel.workflow.sla import SlaState
from gongshu.kernel.workflow.steps import active_step, is_escalation_step, policy_of
from gongshu.quality import rulings
from gongshu.quality.objections import KIND, item_label
from gongshu.store import service as store

# R14 R28: what the list may be narrowed to — where an open objection stands against its step's due day.
STATES: tuple[SlaState, ...] = ("overdue", "due_soon", "on_time")
Stage = Literal["handling", "disputed"]


@dataclass(frozen=True)
class ObjectionLine:
    """R14 R28: an open objection as the supervision list shows it: its case, the resource and the provider
    (named in both languages), the item objected to, the day it was filed (China), where it stands
    (`handling`: the provider's reply; `disputed`: on the dispute chain), its step's clock, and whether the
    reader is one of the provider's data officers, who handle it on the objection's handling page."""

    case_id: int
    number: str
    resource_code: str
    resource_zh: str
    resource_en: str
    provider_id: int
    provider_zh: str
    provider_en: str
    field_zh: str
    field_en: str
    filed_on: dt.date
    stage: Stage
    clock: StepView
    may_handle: bool = False

    def resource(self, lang: str) -> str:
        return self.resource_zh if lang.startswith("zh") else self.resource_en

    def provider(self, lang: str) -> str:
        return self.provider_zh if lang.startswith("zh") else self.provider_en

    def field(self, lang: str) -> str:
        return self.field_zh if lang.startswith("zh") else self.field_en


@dataclass(frozen=True)
class Provider:
    """A provider the list may be narrowed to, named in both languages."""

    id: int
    name_zh: str
    name_en: str

    def name(self, lang: str) -> str:
        return self.name_zh if lang.startswith("zh") else self.name_en


@dataclass(frozen=True)
class Counts:
    """R14 R28: the figures at the top of the list (of the provider chosen, whatever the state chosen)."""

    open: int
    due_soon: int
    overdue: int
    rulings_pending: int
    rulings_overdue: int


@dataclass(frozen=True)
class ObjectionBoard:
    """R14 R28: the open objections (as narrowed, overdue first, then by due day), the counts, the
    providers to narrow to, the filters as applied, and the moment it was computed (`at`)."""

    lines: list[ObjectionLine]
    counts: Counts
    providers: list[Provider]
    provider: int | None
    state: SlaState | None
    at: dt.datetime


def board_scope(session: Session, actor: Actor) -> frozenset[int] | None:
    """R14 R28: whose objections the actor may list — the access decision of the list of rulings
    (`rulings.board_scope`). Anyone else (the objector, an officer without a data role) is refused, and
    sees no objection of any organisation."""
    return rulings.board_scope(
        session,
        actor,
        (
            "quality.objections_forbidden",
            "只有主管部门、数据提供单位的数据专员和审计员可查看数据异议的办理情况",
            "Only the authority, the providers' data officers and the auditors may see how objections are "
            "handled",
        ),
    )


def parse_filters(provider: str | None, state: str | None) -> tuple[int | None, SlaState | None]:
    """The filters as typed in the address: a provider's id (anything else: every provider) and a state of
    STATES (anything else: every state)."""
    text = (provider or "").strip()
    chosen = int(text) if text.isdigit() and len(text) < 10 else None
    wanted = next((s for s in STATES if s == (state or "").strip()), None)
    return chosen, wanted


def board(
    session: Session,
    actor: Actor,
    *,
    provider: int | None = None,
    state: SlaState | None = None,
    at: dt.datetime | None = None,
) -> ObjectionBoard:
    """R14 R28: the open objections of the providers within the actor's `board_scope` (narrowed to one
    `provider` and one `state` when given), each with its case, resource, provider, item, day filed, the
    open step's due day and where it stands — overdue first, then by due day; and the counts of the
    provider chosen: open, due soon, overdue, and the rulings awaiting execution (of which overdue)."""
    at = at or now()
    scope = board_scope(session, actor)
    labels: dict[str, EntryLabel | None] = {}
    items: dict[str, list[dict[str, Any]]] = {}
    orgs: dict[int, Organisation | None] = {}

    def org(org_id: int) -> Organisation | None:
        if org_id not in orgs:
            orgs[org_id] = session.get(Organisation, org_id)
        return orgs[org_id]

    def line(case: Case, clock: StepView) -> ObjectionLine:
        p = case.payload
        code = str(p.get("resource_code") or "")
        if code not in labels:
            labels[code] = entry_label(session, code)
            res = store.find_resource(session, code)
            items[code] = list(res.items) if res is not None else []
        label = labels[code]
        field = str(p.get("field") or "")
        item = next((i for i in items[code] if i.get("name") == field), {"name": field})
        provider_id = int(case.parties["provider"])
        owner = org(provider_id)
        step = active_step(case)
        disputed = step is not None and is_escalation_step(policy_of(session, case), step)
        return ObjectionLine(
            case_id=case.id,
            number=case.number,
            resource_code=code,
            resource_zh=(label.name if label else "") or code,
            resource_en=(label.name_en or label.name if label else "") or code,
            provider_id=provider_id,
            provider_zh=owner.name("zh") if owner else "",
            provider_en=owner.name("en") if owner else "",
            field_zh=item_label(item, "zh"),
            field_en=item_label(item, "en"),
            filed_on=today_china(as_utc(case.submitted_at)),
            stage="disputed" if disputed else "handling",
            clock=clock,
            may_handle=not disputed and actor.has_role("data_officer", provider_id),
        )

    cases = session.scalars(
        select(Case).where(Case.kind == KIND, Case.status == "in_review", *rulings.provider_conditions(scope))
    ).all()
    every: list[ObjectionLine] = []
    for case in cases:
        clock = open_step_view(session, case, at)
        if clock is not None:
            every.append(line(case, clock))
    providers = sorted(
        {
            **{o.provider_id: Provider(o.provider_id, o.provider_zh, o.provider_en) for o in every},
            # the provider chosen, named even with no open objection — only within the reader's scope
            **(
                {provider: _provider(provider, org(provider))}
                if provider is not None and (scope is None or provider in scope)
                else {}
            ),
        }.values(),
        key=lambda o: (o.name_zh, o.id),
    )
    chosen = [o for o in every if provider is None or o.provider_id == provider]
    shown = sorted(
        (o for o in chosen if state is None or o.clock.sla == state),
        key=lambda o: (o.clock.sla != "overdue", o.clock.due_on or dt.date.max, o.case_id),
    )
    pending = [
        case
        for _, case in session.execute(
            select(rulings.RulingExecution, Case)
            .join(Case, Case.id == rulings.RulingExecution.case_id)
            .where(
                rulings.RulingExecution.executed_at.is_(None), *rulings.provider_conditions(scope, provider)
            )
        ).all()
        if rulings.ruling_pending(case)
    ]
    clocks = [rulings.clock_of(session, case, at) for case in pending]
    counts = Counts(
        open=len(chosen),
        due_soon=sum(o.clock.sla == "due_soon" for o in chosen),
        overdue=sum(o.clock.sla == "overdue" for o in chosen),
        rulings_pending=len(pending),
        rulings_overdue=sum(c is not None and c.overdue for c in clocks),
    )
    return ObjectionBoard(shown, counts, providers, provider, state, at)


def _provider(org_id: int, org: Organisation | None) -> Provider:
    """The provider chosen in the address (within the reader's scope), named when it exists."""
    return Provider(org_id, org.name("zh") if org else str(org_id), org.name("en") if org else str(org_id))
